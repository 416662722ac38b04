"""Writing events: the one INSERT of a stitch batch (`events_insert`, through clarm.rowsinsert: one
JSON parameter on PostgreSQL, a VALUES list on SQLite)."""

from datetime import UTC, datetime
from typing import Any

from clarm.rowsinsert import rows_insert
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
# The unique (workspace, message id, occurred_at) of Event: a retried event keeps its occurred_at.
_ON_CONFLICT = "ON CONFLICT (workspace_id, message_id, occurred_at) WHERE message_id IS NOT NULL DO NOTHING"


def _instant(value: datetime | str) -> datetime:
    """An occurred_at as RETURNING gives it: a datetime (PostgreSQL) or SQLite's stored text (UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def events_insert(rows: list[dict[str, Any]]) -> list[int | None]:
    """Store these event rows (dicts keyed by COLUMNS) in one statement; a message id already stored
    for the workspace at that time, or given twice, is skipped by the database (ON CONFLICT on the
    unique constraint), never by a check first. Returns each row's new id, None for a duplicate."""
    if not rows:
        return []
    returned = rows_insert(Event, COLUMNS, rows, conflict=_ON_CONFLICT, returning="id, message_id, occurred_at")
    by_key = {(message_id, _instant(at)): pk for pk, message_id, at in returned if message_id is not None}
    without_message_id = iter([pk for pk, message_id, _ in returned if message_id is None])
    return [
        # pop: of two rows with the same key, the first is the one stored (rows go in in order).
        by_key.pop((row["message_id"], _instant(row["occurred_at"])), None)
        if row["message_id"] is not None
        else next(without_message_id)
        for row in rows
    ]
