"""Writing a request's webhook deliveries: ONE statement, whatever the batch size.

On PostgreSQL the rows travel as one JSON parameter (`jsonb_to_recordset`, as clarm.rowsinsert
does for events) and what the rows share (workspace, provider, headers, receive time, receipt) as
plain parameters once: a 1,000-event SendGrid batch is then one short statement to parse instead of
13,000 bound values, and the headers are serialized once instead of per event. Other databases (the
embedded SQLite) get Django's bulk_create. Both skip the event keys already stored (the unique
constraint decides, never a check first) and return the ids of the rows this request stored.
"""

import datetime
import json
import uuid
from functools import cache
from typing import Any

from django.db import connection

from integrations.models import DeliveryStatus, WebhookDelivery

# Per-row columns, with their PostgreSQL types for jsonb_to_recordset.
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("provider_event_id", "text"),
    ("event_key", "text"),
    ("event_type", "text"),
    ("body", "text"),
    ("status", "text"),
    ("last_error", "text"),
    ("processed_at", "timestamptz"),
)


@cache
def _insert_sql() -> str:
    table = WebhookDelivery._meta.db_table
    names = ", ".join(name for name, _ in ROW_COLUMNS)
    definition = ", ".join(f"{name} {kind}" for name, kind in ROW_COLUMNS)
    return (
        f"INSERT INTO {table} (workspace_id, provider, headers, received_at, receipt, attempts, {names}) "  # noqa: S608 (names from the model, values as parameters)
        f"SELECT %s, %s, %s::jsonb, %s, %s, 0, {names} "
        f"FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definition})) WITH ORDINALITY AS r({names}, n) "
        "ORDER BY r.n ON CONFLICT (workspace_id, provider, event_key) DO NOTHING RETURNING id, status"
    )


def deliveries_insert(
    rows: list[dict[str, Any]],
    *,
    workspace_id: int,
    provider: str,
    headers: dict[str, str],
    received_at: datetime.datetime,
    receipt: uuid.UUID,
) -> list[int]:
    """Insert these rows (dicts keyed by ROW_COLUMNS) in one statement; returns the ids of the rows
    stored to be processed (status received), in insertion order."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        rows_json = json.dumps(
            [{**row, "processed_at": row["processed_at"] and row["processed_at"].isoformat()} for row in rows],
            separators=(",", ":"),
        )
        params: list[Any] = [workspace_id, provider, json.dumps(headers), received_at, receipt, rows_json]
        with connection.cursor() as cursor:
            cursor.execute(_insert_sql(), params)
            return [pk for pk, status in cursor.fetchall() if status == DeliveryStatus.RECEIVED]
    shared = {"workspace_id": workspace_id, "provider": provider, "headers": headers}
    objects = [WebhookDelivery(**shared, received_at=received_at, receipt=receipt, **row) for row in rows]
    WebhookDelivery.objects.bulk_create(objects, ignore_conflicts=True)
    stored = WebhookDelivery.objects.filter(
        workspace_id=workspace_id, provider=provider, receipt=receipt, status=DeliveryStatus.RECEIVED
    )
    return list(stored.order_by("id").values_list("pk", flat=True))
