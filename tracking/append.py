"""The edge's one write: append accepted events, with their dedupe keys, to the pending queue.

One transaction (one statement on PostgreSQL): the events' message ids go into `DedupeKey`
(ON CONFLICT DO NOTHING, so the database decides what is a duplicate, exactly, also against a
concurrent request with the same id), and every event whose key was new, or that has none, into
`PendingEvent` in the request's order. Nothing here reads or locks a customer: that is the
stitcher's work (identity.stitching.stitcher)."""

from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from clarm.rowsinsert import bound_cursor, rows_json
from tracking.models import DedupeKey, PendingEvent
from tracking.prepared import Prepared, prepared_to_data


def partition_of(workspace_id: int) -> int:
    """The stitch partition a workspace's events queue in (one stitcher at a time per partition)."""
    return workspace_id % settings.CLARM_STITCH_PARTITIONS


@cache
def _append_sql() -> str:
    keys, pending = DedupeKey._meta.db_table, PendingEvent._meta.db_table
    return (
        "WITH r AS (SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(n integer, k text, d jsonb)), "  # noqa: S608 (names from the models, values as parameters)
        f"fresh AS (INSERT INTO {keys} (workspace_id, key, received_at) "
        "SELECT %(workspace)s, k, %(at)s FROM r WHERE k IS NOT NULL ORDER BY k "
        "ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key), "
        f"appended AS (INSERT INTO {pending} (workspace_id, partition, received_at, data, attempts) "
        "SELECT %(workspace)s, %(partition)s, %(at)s, d, 0 FROM r WHERE k IS NULL OR k IN (SELECT key FROM fresh) "
        "ORDER BY n RETURNING id) "
        "SELECT key FROM fresh"
    )


def _fresh_keys_postgresql(workspace_id: int, events: list[Prepared], received_at: datetime) -> set[str]:
    rows = [{"n": n, "k": p.message_id, "d": prepared_to_data(p)} for n, p in enumerate(events)]
    params: dict[str, Any] = {
        "rows": rows_json(rows),
        "workspace": workspace_id,
        "partition": partition_of(workspace_id),
        "at": received_at,
    }
    with bound_cursor() as cursor:
        cursor.execute(_append_sql(), params)
        return {key for (key,) in cursor.fetchall()}


def _fresh_keys_other(workspace_id: int, events: list[Prepared], received_at: datetime) -> set[str]:
    keys = sorted({p.message_id for p in events if p.message_id is not None})
    fresh: set[str] = set()
    with transaction.atomic():
        if keys:
            table = DedupeKey._meta.db_table
            placeholders = ", ".join(["(%s, %s, %s)"] * len(keys))
            params: list[Any] = []
            for key in keys:
                params += [workspace_id, key, received_at]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (workspace_id, key, received_at) VALUES {placeholders} "  # noqa: S608 (table name from the model, values as parameters)
                    "ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key",
                    params,
                )
                fresh = {key for (key,) in cursor.fetchall()}
        PendingEvent.objects.bulk_create(
            [
                PendingEvent(
                    workspace_id=workspace_id,
                    partition=partition_of(workspace_id),
                    received_at=received_at,
                    data=prepared_to_data(p),
                )
                for p in events
                if p.message_id is None or p.message_id in fresh
            ]
        )
    return fresh


def events_append(*, workspace_id: int, events: list[Prepared], received_at: datetime) -> list[bool]:
    """Append these events (message ids unique within the list) durably; for each, whether it was
    appended (False: its message id was accepted before)."""
    if not events:
        return []
    if connection.vendor == "postgresql":
        fresh = _fresh_keys_postgresql(workspace_id, events, received_at)
    else:
        fresh = _fresh_keys_other(workspace_id, events, received_at)
    return [p.message_id is None or p.message_id in fresh for p in events]
