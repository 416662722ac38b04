"""Writing events: the one INSERT of an ingest request, and the one statement of a known device.

`events_insert` stores the rows of a request in one statement. On PostgreSQL the rows travel as ONE
JSON parameter (`jsonb_to_recordset`): a 100-event batch is then one parameter to bind instead of
1,300, which is most of what a VALUES list costs the web process (client-side binding) and the
server (parsing and planning it). Other databases (the embedded SQLite) get the VALUES list.

`known_device_events_write` is the fast lane of page views from devices whose owners the visit cache
remembers: one statement in its own implicit transaction that checks, under locks, that what the
cache says is still true, and stores the events only then (see its docstring).
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from django.db import connection

from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind
from tracking.models import Event, Visit
from tracking.visits import VisitState

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


def prepared_fetchall(sql: str, params: list[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a statement as a server-side prepared statement on Django's connection (PostgreSQL) and
    return its rows. Django binds parameters client-side, so PostgreSQL parses and plans every
    statement afresh: for a long statement run on every request (the known-device lane's) that
    planning costs more than executing it. psycopg prepares it once per connection by its text.
    Errors are Django's (as with connection.cursor()), and the statement is in connection.queries."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        rows = cursor.fetchall()
    if connection.queries_logged:  # DEBUG, or a test counting queries: logged as Django logs its own
        connection.queries_log.append({"sql": f"/* prepared */ {sql}", "time": f"{time.monotonic() - started:.3f}"})
    return rows


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def _rows_from_json(extra: tuple[tuple[str, str], ...] = ()) -> str:
    """`r`: the rows of the one JSON parameter (COLUMNS, then `extra`), numbered `n` in their order."""
    columns = COLUMNS + extra
    definition = ", ".join(f"{name} {kind}" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    return f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definition})) WITH ORDINALITY AS r({names}, n)"


@cache
def _insert_sql(*, visit_touch: bool) -> str:
    insert = (
        f"INSERT INTO {Event._meta.db_table} ({_NAMES}) SELECT {_NAMES} FROM {_rows_from_json()} "  # noqa: S608 (names from the model, values as one parameter)
        f"ORDER BY r.n {_ON_CONFLICT} RETURNING id, message_id"
    )
    if not visit_touch:
        return insert
    return (
        f"WITH ins AS ({insert}), touched AS ("  # noqa: S608 (names from the models, values as parameters)
        f"UPDATE {Visit._meta.db_table} SET event_count = event_count + (SELECT count(*) FROM ins), "
        "last_event_at = GREATEST(last_event_at, %s) WHERE id = %s AND EXISTS (SELECT 1 FROM ins)) "
        "SELECT id, message_id FROM ins"
    )


def _insert_postgresql(rows: list[dict[str, Any]], visit_touch: VisitState | None) -> list[tuple[int, str | None]]:
    params: list[Any] = [_rows_json(rows)]
    if visit_touch is not None:
        params += [visit_touch.last_at, visit_touch.visit_id]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(visit_touch=visit_touch is not None), params)
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


def events_insert(rows: list[dict[str, Any]], *, visit_touch: VisitState | None = None) -> list[int | None]:
    """Store these event rows (dicts keyed by COLUMNS) in one statement; a message id already stored
    for the workspace is skipped by the database (ON CONFLICT on the unique constraint), never by a
    check first. Returns each row's new id, None for a duplicate.

    `visit_touch` (PostgreSQL only): the one known visit (with its id) all these events belong to,
    moved on by the same statement (a data-modifying CTE), so its events cost one write."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        returned = _insert_postgresql(rows, visit_touch)
    else:
        assert visit_touch is None, "visit_touch needs PostgreSQL"
        returned = _insert_values(rows)
    by_message_id = {message_id: pk for pk, message_id in returned if message_id is not None}
    without_message_id = iter([pk for pk, message_id in returned if message_id is None])
    return [
        by_message_id.get(row["message_id"]) if row["message_id"] is not None else next(without_message_id)
        for row in rows
    ]


# What a lane row carries besides its event columns (see known_device_events_write).
_LANE_EXTRA = (("min_rung", "smallint"), ("visit_count", "integer"), ("visit_id", "bigint"))


@cache
def _lane_sql() -> str:
    """The set statement of `known_device_events_write` (built once)."""
    values = ", ".join("c_rung" if name == "rung" else name for name, _ in COLUMNS)
    customers, identifiers, visits = Customer._meta.db_table, Identifier._meta.db_table, Visit._meta.db_table
    # The keys to lock also travel as arrays: each lock is then an index probe by key, whatever the
    # planner's statistics say about the rows of the JSON parameter. `i` counts `c` (not EXISTS) so
    # that every customer is locked before any identifier.
    return (
        f"WITH r AS (SELECT * FROM {_rows_from_json(_LANE_EXTRA)}), "  # noqa: S608 (names from the models, values as parameters)
        f"c AS MATERIALIZED (SELECT id, rung, allow_analytics, first_seen, last_seen FROM {customers} "
        "WHERE id = ANY(%s::bigint[]) AND workspace_id = %s AND status = %s ORDER BY id FOR SHARE), "
        f"i AS MATERIALIZED (SELECT id, value_hash, customer_id, visit_count FROM {identifiers} "
        "WHERE workspace_id = %s AND kind = %s AND value_hash = ANY(%s::varchar[]) "
        "AND (SELECT count(*) FROM c) > 0 ORDER BY id FOR SHARE), "
        "ok AS MATERIALIZED (SELECT r.*, c.rung AS c_rung, c.allow_analytics FROM r "
        "JOIN c ON c.id = r.customer_id JOIN i ON i.value_hash = r.device_hash AND i.customer_id = r.customer_id "
        "WHERE c.rung >= r.min_rung AND i.visit_count >= r.visit_count AND c.first_seen <= r.occurred_at "
        f"AND EXISTS (SELECT 1 FROM {visits} v WHERE v.id = r.visit_id AND v.workspace_id = r.workspace_id)), "
        f"ins AS (INSERT INTO {Event._meta.db_table} ({_NAMES}) SELECT {values} FROM ok WHERE allow_analytics "
        f"ORDER BY n {_ON_CONFLICT} RETURNING id, message_id, customer_id, device_hash, session_id, occurred_at), "
        # Visits last: locked in id order once `ok` (so every customer and identifier) is done.
        f"vlock AS MATERIALIZED (SELECT t.id FROM {visits} t WHERE t.id = ANY(%s::bigint[]) "
        "AND (SELECT count(*) FROM ok) > 0 ORDER BY t.id FOR NO KEY UPDATE), "
        "moved AS (SELECT device_hash, session_id, count(*) AS k, max(occurred_at) AS m FROM ins GROUP BY 1, 2), "
        f"touched AS (UPDATE {visits} t SET event_count = t.event_count + moved.k, "
        "last_event_at = GREATEST(t.last_event_at, moved.m) FROM moved "
        "WHERE t.workspace_id = %s AND t.device_hash = moved.device_hash AND t.session_id = moved.session_id "
        "AND (SELECT count(*) FROM vlock) > 0) "
        # Three lists (joined here by message id: a join of two CTEs would be planned as a nested
        # loop): the confirmed rows, the stored events, and the customers whose last_seen is behind.
        "SELECT ok.n, ok.allow_analytics, ok.message_id, NULL::bigint, NULL::timestamptz FROM ok "
        "UNION ALL SELECT NULL, NULL, ins.message_id, ins.id, NULL FROM ins "
        "UNION ALL SELECT NULL, NULL, NULL, x.customer_id, x.m FROM (SELECT customer_id, max(occurred_at) AS m "
        "FROM ins GROUP BY 1) x JOIN c ON c.id = x.customer_id WHERE c.last_seen < x.m - %s"
    )


@dataclass
class KnownDeviceOutcome:
    """What the known-device statement found for one row: `confirmed` False means the cache was wrong
    (nothing was stored: use the full path); else the event was suppressed, a duplicate (no id), or
    stored as `event_id`."""

    confirmed: bool
    suppressed: bool = False
    event_id: int | None = None


def known_device_events_write(rows: list[dict[str, Any]], *, last_seen_slack: timedelta) -> list[KnownDeviceOutcome]:
    """ONE statement (PostgreSQL; its own implicit transaction) for page views whose only identifier is
    a device the visit cache says belongs to `customer_id`, each continuing a known visit of that device.
    Each row is an event row (COLUMNS; `rung` ignored) plus `min_rung` (what the event proves),
    `visit_count` (the device's visits so far) and `visit_id` (the visit it continues), all with a
    message id.

    Under locks it checks what the cache said: the customers (locked FOR SHARE in id order, first:
    the order of every writer), then the devices' identifiers (FOR SHARE, in id order). A row is
    confirmed when its customer is live, owns the device, is already at `min_rung`, was first seen
    no later than the event, the device has counted `visit_count` visits and the visit still exists
    (an erasure deletes it under the customer's lock): the event then changes nothing on the
    customer but `last_seen` (moved when more than `last_seen_slack` behind, as `event_changes`
    does) and takes the customer's rung. Shared locks let concurrent batches of the same people run
    side by side; so `last_seen` is moved by a second statement right after (a few times a minute
    per person): if the process stops in between, that person's next event moves it. Confirmed
    events of people who opted out of analytics are not stored; the others are, and their visits
    move on (locked in id order, last). A concurrent merge, split, erasure or consent change either
    commits first (the re-checked rows no longer match: the row is not confirmed and nothing of it
    is written) or waits for this statement; the locks last as long as this one statement.

    One row (a single page view, most of a site's requests) has its own statement with every value
    a plain parameter, a third of the set statement's cost in PostgreSQL; it locks its customer FOR
    NO KEY UPDATE and moves `last_seen` in the same statement."""
    if not rows:
        return []
    if len(rows) == 1:
        return [_known_device_event_write(rows[0], last_seen_slack=last_seen_slack)]
    workspace_id = rows[0]["workspace_id"]
    sql = _lane_sql()
    params = [
        _rows_json(rows),
        sorted({row["customer_id"] for row in rows}),
        workspace_id,
        CustomerStatus.LIVE,
        workspace_id,
        IdentifierKind.DEVICE,
        sorted({row["device_hash"] for row in rows}),
        sorted({row["visit_id"] for row in rows}),
        workspace_id,
        last_seen_slack,
    ]
    confirmed: dict[int, bool] = {}
    stored: dict[str, int] = {}
    behind: list[tuple[int, datetime]] = []
    for n, allowed, message_id, event_id, seen in prepared_fetchall(sql, params):
        if n is not None:
            confirmed[int(n)] = bool(allowed)
        elif message_id is not None:
            stored[message_id] = event_id
        else:
            behind.append((event_id, seen))
    _customers_last_seen_move(behind, last_seen_slack=last_seen_slack)
    out = []
    for n, row in enumerate(rows, start=1):
        if n not in confirmed:
            out.append(KnownDeviceOutcome(confirmed=False))
            continue
        allowed = confirmed[n]
        event_id = stored.get(row["message_id"]) if allowed else None
        out.append(KnownDeviceOutcome(confirmed=True, suppressed=not allowed, event_id=event_id))
    return out


def _customers_last_seen_move(moves: list[tuple[int, datetime]], *, last_seen_slack: timedelta) -> None:
    """Move these customers' last_seen to the given times where more than the slack behind; the rows
    locked in id order (one statement)."""
    if not moves:
        return
    moves.sort()
    table = Customer._meta.db_table
    prepared_fetchall(
        "WITH v(id, m) AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[])), "  # noqa: S608 (table name from the model, values as parameters)
        f"locked AS MATERIALIZED (SELECT t.id FROM {table} t WHERE t.id IN (SELECT id FROM v) "
        "ORDER BY t.id FOR NO KEY UPDATE), "
        f"moved AS (UPDATE {table} t SET last_seen = v.m FROM v, locked "
        "WHERE t.id = v.id AND locked.id = v.id AND t.last_seen < v.m - %s RETURNING t.id) "
        "SELECT count(*) FROM moved",
        [[cid for cid, _ in moves], [m for _, m in moves], last_seen_slack],
    )


@cache
def _lane_one_sql() -> str:
    """The one-row statement of `_known_device_event_write` (built once)."""
    customers, identifiers, visits = Customer._meta.db_table, Identifier._meta.db_table, Visit._meta.db_table
    values = ", ".join(
        "c.id" if name == "customer_id" else "c.rung" if name == "rung" else f"%({name})s::{kind}"
        for name, kind in COLUMNS
    )
    return (
        f"WITH c AS MATERIALIZED (SELECT id, rung, allow_analytics FROM {customers} "  # noqa: S608 (names from the models, values as parameters)
        "WHERE id = %(customer_id)s AND workspace_id = %(workspace_id)s AND status = %(live)s "
        "AND first_seen <= %(occurred_at)s AND rung >= %(min_rung)s FOR NO KEY UPDATE), "
        f"i AS MATERIALIZED (SELECT id FROM {identifiers} WHERE workspace_id = %(workspace_id)s "
        "AND kind = %(device)s AND value_hash = %(device_hash)s AND customer_id = %(customer_id)s "
        "AND visit_count >= %(visit_count)s AND EXISTS (SELECT 1 FROM c) FOR SHARE), "
        f"ins AS (INSERT INTO {Event._meta.db_table} ({_NAMES}) SELECT {values} FROM c "
        "WHERE EXISTS (SELECT 1 FROM i) AND c.allow_analytics "
        f"AND EXISTS (SELECT 1 FROM {visits} v WHERE v.id = %(visit_id)s AND v.workspace_id = %(workspace_id)s) "
        f"{_ON_CONFLICT} RETURNING id), "
        f"seen AS (UPDATE {customers} SET last_seen = %(occurred_at)s WHERE id = %(customer_id)s "
        "AND last_seen < %(occurred_at)s - %(slack)s AND EXISTS (SELECT 1 FROM ins)), "
        f"touched AS (UPDATE {visits} SET event_count = event_count + 1, "
        "last_event_at = GREATEST(last_event_at, %(occurred_at)s) WHERE id = %(visit_id)s "
        "AND EXISTS (SELECT 1 FROM ins)) "
        "SELECT EXISTS (SELECT 1 FROM i), (SELECT allow_analytics FROM c), (SELECT id FROM ins)"
    )


def _known_device_event_write(row: dict[str, Any], *, last_seen_slack: timedelta) -> KnownDeviceOutcome:
    """`known_device_events_write` for one row: the same checks, locks (one customer, then one
    identifier) and writes, without the JSON rows, sorts and joins."""
    sql = _lane_one_sql()
    params = dict(row, live=CustomerStatus.LIVE, device=IdentifierKind.DEVICE, slack=last_seen_slack)
    params["properties"] = json.dumps(row["properties"], separators=(",", ":"))
    params["context"] = json.dumps(row["context"], separators=(",", ":"))
    found = prepared_fetchall(sql, params)
    confirmed, allowed, event_id = found[0]
    if not confirmed:
        return KnownDeviceOutcome(confirmed=False)
    return KnownDeviceOutcome(confirmed=True, suppressed=not allowed, event_id=event_id)
