"""Rebuild the dashboard's rollups of a workspace: `manage.py rollups_rebuild --workspace acme
[--since 2026-01-01 --until 2026-01-31] [--facts]`. Without dates: the whole history, facts included."""

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min

from identity.rollups.processor import rollups_advance, rollups_rebuild
from tracking.models import Event
from workspaces.models import Workspace


def _date(value: str | None, name: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--{name} must be a date like 2026-01-31, not {value!r}.") from exc


class Command(BaseCommand):
    help = "Recount the dashboard's daily rollups of a workspace over a range of days."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--since", help="first day (YYYY-MM-DD, workspace time zone)")
        parser.add_argument("--until", help="last day, inclusive (default: today)")
        parser.add_argument("--facts", action="store_true", help="also recompute every customer's facts")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with the slug {options['workspace']!r}.")
        since, until = _date(options["since"], "since"), _date(options["until"], "until")
        whole = since is None
        if since is None:
            first = Event.objects.filter(workspace=workspace).aggregate(first=Min("occurred_at"))["first"]
            since = (first.date() - datetime.timedelta(days=1)) if first else datetime.date.today()
        until = until or datetime.date.today() + datetime.timedelta(days=1)
        if until < since:
            raise CommandError("--until is before --since.")
        while rollups_advance(workspace_id=workspace.pk):
            pass
        result = rollups_rebuild(workspace=workspace, start=since, end=until, facts=whole or options["facts"])
        self.stdout.write(f"Rebuilt {since}..{until} of {workspace.slug}: {result['rows']} counts.")
