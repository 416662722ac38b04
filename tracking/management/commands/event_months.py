"""Create the months of stored events ahead now (what the daily beat task `event-months-ahead`
does): `manage.py event_months [--ahead 3] [--since 2025-01]`; `--since` also creates every month
from that one on (before loading a backfill, so its rows go straight to their months); `--list`
only lists the month partitions. PostgreSQL only: on SQLite events are one plain table."""

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from tracking.partitions import (
    event_months,
    event_months_ahead,
    event_months_create,
    month_add,
    month_start,
    partitioned,
)
from workspaces.retention import retention_horizon


def _month(value: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(value, "%Y-%m").replace(tzinfo=datetime.UTC)
    except ValueError as exc:
        raise CommandError(f"--since must be a month like 2025-01, not {value!r}.") from exc


class Command(BaseCommand):
    help = "Create the month partitions of events ahead (PostgreSQL) and list them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--ahead", type=int, help="months after the current one (default CLARM_EVENT_MONTHS_AHEAD)")
        parser.add_argument("--since", help="also create every month from this one (YYYY-MM) to the current one")
        parser.add_argument("--list", action="store_true", help="only list the month partitions")

    def handle(self, *args: Any, **options: Any) -> None:
        ahead, since = options["ahead"], options["since"]
        if ahead is not None and not 0 <= ahead <= 120:
            raise CommandError(f"--ahead must be between 0 and 120 months, not {ahead}.")
        first = _month(since) if since else None
        current = month_start(timezone.now())
        if first is not None and first < month_add(current, -120):
            raise CommandError(f"--since must be at most 120 months ago, not {since}.")
        if not partitioned():
            self.stdout.write("Events are one plain table on this database (SQLite): nothing to do.")
            return
        if not options["list"]:
            created = event_months_ahead(horizon=retention_horizon(), ahead=ahead)
            if first is not None:
                months = (current.year - first.year) * 12 + current.month - first.month
                created += event_months_create([month_add(first, n) for n in range(months)])
            self.stdout.write(f"Created {len(created)} month(s): {', '.join(created) or 'none needed'}.")
        for month in event_months():
            self.stdout.write(f"{month.name}  {month.start:%Y-%m-%d} .. {month.end:%Y-%m-%d}")
