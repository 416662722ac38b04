"""Stored events by month: on PostgreSQL `tracking_event` is partitioned by RANGE on `occurred_at`,
one partition per calendar month (UTC), named `tracking_event_pYYYYMM`, plus a DEFAULT partition
(docs/ingest.md, "Storage").

- `occurred_at`, not `received_at`: retention and the timeline go by when the event happened, so a
  month whose end is outside every workspace's window holds only expired events and can be dropped
  whole, and a timeline page's cursor (`occurred_at >= …`) skips the months before it.
- The DEFAULT partition is the home of whatever has no month yet: a backfilled event older than the
  first month created, or (should the daily task not have run for months) a recent one. The edge
  clamps the future to five minutes ahead (tracking.clock), so the months created ahead always
  cover new events; no insert ever fails for a missing month.
- `event_months_ahead` (daily, beat `event-months-ahead`; `manage.py event_months`) creates the
  current month and CLARM_EVENT_MONTHS_AHEAD after it, and gives every month found in the DEFAULT
  partition that is still inside some workspace's window its own partition (moving its rows), so
  the DEFAULT partition stays small and what it holds is only what retention deletes next.
- A month is added as a plain table, filled with its rows from the DEFAULT partition, then attached:
  ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so ingest and reads go on.
- `event_month_drop` (retention, identity.privacy.retention) drops a month in one statement.

On other databases (the embedded SQLite) the table is a plain table and these are no-ops.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tracking.models import Event

logger = logging.getLogger(__name__)

TABLE = Event._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
_MONTH_NAME = re.compile(rf"^{TABLE}_p(\d{{4}})(\d{{2}})$")
# Serializes the writers of the partition set (two beat runs, a command, retention).
_ADVISORY_KEY = 0x636C61726D_01  # "clarm", 1
# How long DDL waits for a lock on the table before giving up (it is retried on the next run):
# waiting longer would hold every query queued behind it.
LOCK_TIMEOUT_MS = 2000


@dataclass(frozen=True, order=True)
class EventMonth:
    start: datetime  # the first instant of the month (UTC)

    @property
    def end(self) -> datetime:
        return month_add(self.start, 1)

    @property
    def name(self) -> str:
        return f"{TABLE}_p{self.start:%Y%m}"


def month_start(moment: datetime) -> datetime:
    at = moment.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def month_add(start: datetime, months: int) -> datetime:
    year, month = divmod(start.year * 12 + start.month - 1 + months, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def partitioned() -> bool:
    """Whether this database partitions events (PostgreSQL; the migration made it so)."""
    return connection.vendor == "postgresql"


def event_months() -> list[EventMonth]:
    """The month partitions that exist, oldest first (partitions not named by us are not listed)."""
    if not partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = [m for m in (_MONTH_NAME.match(name) for name in names) if m]
    return sorted(EventMonth(datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)) for m in found)


@contextmanager
def _ddl_lock() -> Iterator[None]:
    """A transaction holding the partition set's advisory lock, with a short lock timeout for DDL."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{LOCK_TIMEOUT_MS}ms"])
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])
        yield
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def _literal(moment: datetime) -> str:
    """A partition bound (DDL takes no parameters): our own instant, in UTC with its offset."""
    return f"'{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def event_months_create(starts: Iterable[datetime]) -> list[str]:
    """Create the month partitions of these instants' months that do not exist yet; idempotent.
    Rows of such a month waiting in the DEFAULT partition move into it. Returns the names created."""
    if not partitioned():
        return []
    wanted = sorted({EventMonth(month_start(at)) for at in starts})
    created: list[str] = []
    with _ddl_lock(), connection.cursor() as cursor:
        existing = {m.name for m in event_months()}
        for month in wanted:
            if month.name in existing:
                continue
            lower, upper = _literal(month.start), _literal(month.end)
            cursor.execute(f'CREATE TABLE "{month.name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
            # No insert may reach DEFAULT between the move and the ATTACH's check of it (reads go on).
            cursor.execute(f'LOCK TABLE "{DEFAULT_PARTITION}" IN SHARE ROW EXCLUSIVE MODE')
            cursor.execute(
                f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE occurred_at >= %s AND occurred_at < %s '  # noqa: S608 (our names)
                f'RETURNING *) INSERT INTO "{month.name}" SELECT * FROM moved',
                [month.start, month.end],
            )
            cursor.execute(
                f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{month.name}" FOR VALUES FROM ({lower}) TO ({upper})'
            )
            created.append(month.name)
    if created:
        logger.info("event months created: %s", ", ".join(created))
    return created


def event_months_ahead(*, horizon: datetime | None, now: datetime | None = None, ahead: int | None = None) -> list[str]:
    """The current month and `ahead` (CLARM_EVENT_MONTHS_AHEAD) after it, and every month found in
    the DEFAULT partition that ends after `horizon` (the retention horizon: older rows are deleted by
    retention, not worth a month). Returns the partitions created."""
    if not partitioned():
        return []
    now = now or timezone.now()
    ahead = settings.CLARM_EVENT_MONTHS_AHEAD if ahead is None else ahead
    current = month_start(now)
    starts = [month_add(current, n) for n in range(ahead + 1)]
    if horizon is not None:
        starts += event_months_in_default(since=month_start(horizon))
    return event_months_create(starts)


def event_months_in_default(*, since: datetime) -> list[datetime]:
    """The months (their first instants) of the events in the DEFAULT partition from `since` on."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') FROM \"{DEFAULT_PARTITION}\" "  # noqa: S608 (our name)
            "WHERE occurred_at >= %s",
            [since],
        )
        return [row[0] for row in cursor.fetchall()]


def event_month_drop(month: EventMonth) -> dict[int, int]:
    """Drop this month's partition (one statement: it leaves the table and its rows go, no row is
    deleted one by one). Returns how many events of each workspace it held. Raises OperationalError
    when the table stays locked past LOCK_TIMEOUT_MS (the month is then left for the next run)."""
    with _ddl_lock(), connection.cursor() as cursor:
        # Nothing lands in the month between the count and the drop; reads go on meanwhile (any read
        # of events that names no month takes a lock on every month: ACCESS EXCLUSIVE here would hold
        # them all for the count). The DROP then takes ACCESS EXCLUSIVE only until the commit.
        cursor.execute(f'LOCK TABLE "{month.name}" IN SHARE MODE')
        cursor.execute(f'SELECT workspace_id, count(*) FROM "{month.name}" GROUP BY workspace_id')  # noqa: S608 (our name)
        counts = {workspace_id: n for workspace_id, n in cursor.fetchall()}
        cursor.execute(f'DROP TABLE "{month.name}"')
    logger.info("event month %s dropped (%s events)", month.name, sum(counts.values()))
    return counts
