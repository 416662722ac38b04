"""Writing events: the one INSERT of a stitch batch.

`events_insert` stores the rows of a batch in one statement. On PostgreSQL the rows travel as ONE
JSON parameter (`jsonb_to_recordset`): a 1,000-event batch is then one parameter to bind instead of
13,000, which is most of what a VALUES list costs (client-side binding, and the server parsing and
planning it). Other databases (the embedded SQLite) get the VALUES list.
"""

import json
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from tracking.models import Event

# Event columns written at ingest, with their PostgreSQL types for jsonb_to_recordset.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("workspace_id", "bigint"),
    ("customer_id", "bigint"),
    ("event", "text"),
    ("source", "text"),
    ("occurred_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("rung", "smallint"),
    ("session_id", "text"),
    ("device_hash", "text"),
    ("message_id", "text"),
    ("properties", "jsonb"),
    ("context", "jsonb"),
    ("is_bot", "boolean"),
)
_NAMES = ", ".join(name for name, _ in COLUMNS)
_ON_CONFLICT = "ON CONFLICT (workspace_id, message_id) WHERE message_id IS NOT NULL DO NOTHING"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


@cache
def _insert_sql() -> str:
    definition = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    return (
        f"INSERT INTO {Event._meta.db_table} ({_NAMES}) SELECT {_NAMES} FROM "  # noqa: S608 (names from the model, values as one parameter)
        f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definition})) WITH ORDINALITY AS r({_NAMES}, n) "
        f"ORDER BY r.n {_ON_CONFLICT} RETURNING id, message_id"
    )


def _insert_postgresql(rows: list[dict[str, Any]]) -> list[tuple[int, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [_rows_json(rows)])
        return cursor.fetchall()


def _insert_values(rows: list[dict[str, Any]]) -> list[tuple[int, str | None]]:
    fields = [Event._meta.get_field(name) for name, _ in COLUMNS]  # by attname (workspace_id, ...)
    params: list[Any] = []
    for row in rows:
        for (name, _), f in zip(COLUMNS, fields, strict=True):
            params.append(f.get_db_prep_save(row[name], connection))  # type: ignore[union-attr]
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    sql = (
        f"INSERT INTO {Event._meta.db_table} ({_NAMES}) VALUES {', '.join([placeholders] * len(rows))} "  # noqa: S608 (names from the model, values as parameters)
        f"{_ON_CONFLICT} RETURNING id, message_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def events_insert(rows: list[dict[str, Any]]) -> list[int | None]:
    """Store these event rows (dicts keyed by COLUMNS) in one statement; a message id already stored
    for the workspace is skipped by the database (ON CONFLICT on the unique constraint), never by a
    check first. Returns each row's new id, None for a duplicate."""
    if not rows:
        return []
    returned = _insert_postgresql(rows) if connection.vendor == "postgresql" else _insert_values(rows)
    by_message_id = {message_id: pk for pk, message_id in returned if message_id is not None}
    without_message_id = iter([pk for pk, message_id in returned if message_id is None])
    return [
        by_message_id.get(row["message_id"]) if row["message_id"] is not None else next(without_message_id)
        for row in rows
    ]
