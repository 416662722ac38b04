"""Many rows in one INSERT, with ON CONFLICT and RETURNING, on both databases.

On PostgreSQL the rows travel as ONE JSON parameter (`jsonb_to_recordset`): a 1,000-row batch is then
one parameter to bind instead of 13,000, which is most of what a VALUES list costs (client-side
binding, and the server parsing and planning it); the statement text is the same whatever the number
of rows. Other databases (the embedded SQLite) get a VALUES list, in chunks under SQLite's bound on
parameters. Rows come back in the order given (RETURNING follows the insert order on both), minus
the rows the conflict clause skipped.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models

# SQLite refuses statements with more parameters than this (its default bound since 3.32).
_SQLITE_MAX_PARAMS = 32_000
_SQL_CACHE: dict[tuple[str, tuple[tuple[str, str], ...], str, str], str] = {}


# What orjson cannot write (Decimal, lazy strings, timedeltas: rare here) is written as Django's
# encoder writes it; rows it refuses whole (an integer beyond 64 bits in a caller's properties,
# a dict with keys that are not strings) are written by the standard library instead.
_FALLBACK = DjangoJSONEncoder(separators=(",", ":"))


@cache
def _bound_cursor_class() -> type:
    """Django's server-binding cursor (defined only under psycopg 3, hence the late import) that also
    records a prepared statement's text: psycopg records it (what Django's query log and
    CaptureQueriesContext read) only for statements it sends unprepared."""
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )

    class PreparedLoggedCursor(ServerBindingCursor):
        def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
            self._query = pgq
            super()._send_query_prepared(name, pgq, binary=binary)

    return PreparedLoggedCursor


@contextmanager
def bound_cursor() -> Iterator[Any]:
    """A cursor of the default connection whose parameters travel apart from the statement
    (PostgreSQL's server-side binding). Django's psycopg cursors bind on the client: they quote every
    parameter into the SQL text in Python, which for the one large JSON parameter of a batch costs more
    CPU than PostgreSQL spends running the statement. Its statements are also prepared once per
    connection (`prepare_threshold` in `clarm.settings.base.database_config`), so keep their text
    fixed per call site. Queries still go through Django's wrappers (errors, query logging). Other
    databases get the ordinary cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = _bound_cursor_class()(connection.connection)
    cursor = connection._prepare_cursor(raw)  # type: ignore[attr-defined]  # as Django wraps its own cursors
    try:
        yield cursor
    finally:
        cursor.close()


def rows_json(rows: list[Any]) -> str:
    """Rows as the one JSON parameter of `jsonb_to_recordset` (times in ISO 8601 with their zone).
    orjson writes a stitch batch's rows several times faster than the standard library, whose
    Python hook for every datetime was a tenth of a batch's CPU."""
    try:
        return orjson.dumps(rows, default=_FALLBACK.default).decode()
    except orjson.JSONEncodeError:
        return _FALLBACK.encode(rows)


def _recordset_sql(table: str, columns: tuple[tuple[str, str], ...], conflict: str, returning: str) -> str:
    key = (table, columns, conflict, returning)
    sql = _SQL_CACHE.get(key)
    if sql is None:
        names = ", ".join(name for name, _ in columns)
        definition = ", ".join(f"{name} {kind}" for name, kind in columns)
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} FROM "  # noqa: S608 (names from the model, values as one parameter)
            f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definition})) WITH ORDINALITY AS r({names}, n) "
            f"ORDER BY r.n {conflict} RETURNING {returning}"
        )
        _SQL_CACHE[key] = sql
    return sql


def rows_insert(
    model: type[models.Model],
    columns: tuple[tuple[str, str], ...],
    rows: list[dict[str, Any]],
    *,
    conflict: str = "",
    returning: str = "id",
) -> list[tuple[Any, ...]]:
    """INSERT these rows (dicts keyed by the column names; `columns` are (attname, PostgreSQL type))
    into the model's table; returns the RETURNING tuples of the rows stored."""
    if not rows:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with bound_cursor() as cursor:
            cursor.execute(
                _recordset_sql(table, columns, conflict, returning),
                [rows_json(rows)],
            )
            return cursor.fetchall()
    fields = [model._meta.get_field(name) for name, _ in columns]
    names = ", ".join(name for name, _ in columns)
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, _SQLITE_MAX_PARAMS // len(columns))
    returned: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                f.get_db_prep_save(row[name], connection)  # type: ignore[union-attr]
                for row in chunk
                for (name, _), f in zip(columns, fields, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholders] * len(chunk))} "  # noqa: S608 (names from the model, values as parameters)
                f"{conflict} RETURNING {returning}",
                params,
            )
            returned += cursor.fetchall()
    return returned


@cache
def model_columns(model: type[models.Model]) -> tuple[tuple[str, str], ...]:
    """Every concrete column of the model, with its database type, for `rows_insert`."""
    return tuple((f.attname, str(f.db_type(connection))) for f in model._meta.concrete_fields)


def model_rows_insert(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """INSERT rows of the model given as {attname: value} (its primary key included): the columns a
    row leaves out get the field's default, computed once for the batch (a callable default such as
    `timezone.now` gives every row the same value). What `bulk_create` does, without building a model
    instance and preparing each field of each row in Python: for a stitch batch of 1,000 new people
    (1,000 customers, 2,000 identifiers) that was a third of the stitcher's CPU."""
    if not rows:
        return
    columns = model_columns(model)
    given = set(rows[0]).intersection(*rows[1:])  # the columns every row has
    defaults = {f.attname: f.get_default() for f in model._meta.concrete_fields if f.attname not in given}
    rows_insert(model, columns, [{**defaults, **row} for row in rows], returning=model._meta.pk.column)


def fields_update(objs: Iterable[models.Model], names: tuple[str, ...]) -> None:
    """Write the fields `names` of these saved model instances (all of one model): one UPDATE per
    row, sent as one batch (executemany, pipelined on PostgreSQL). Django's bulk_update builds a CASE
    expression per row and field, which for 2,000 rows of 14 fields costs seconds of Python."""
    objs = list(objs)
    if not objs:
        return
    meta = objs[0]._meta
    concrete = {f.name: f for f in meta.concrete_fields}
    fields = [concrete[name] for name in names]
    pk = concrete[meta.pk.name]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    # Names from the model's _meta, quoted; every value is a bound parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"  # noqa: S608
    rows = [(*(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields), obj.pk) for obj in objs]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
