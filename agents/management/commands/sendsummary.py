"""Send a workspace's weekly summary now: the latest finished week (Friday 17:00 local time)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from agents.summary.periods import latest_week_key, week_key_parse, workspace_zone
from agents.summary.services import SendOutcome, summary_recipients, weekly_summary_send
from workspaces.models import Workspace

MESSAGES = {
    SendOutcome.SENT: "Sent the summary of {week} to {n} recipient(s).",
    SendOutcome.ALREADY_SENT: "The summary of {week} was already sent; use --force to send it again.",
    SendOutcome.IN_PROGRESS: "The summary of {week} is being sent right now by another worker.",
    SendOutcome.NO_RECIPIENTS: "{slug} has no summary recipients: add some in its settings.",
}


class Command(BaseCommand):
    help = "Send a workspace's weekly summary (the latest finished week) to its summary recipients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, metavar="SLUG", help="The workspace's slug.")
        parser.add_argument("--week", help="An ISO week such as 2025-W11 (default: the latest finished week).")
        parser.add_argument("--force", action="store_true", help="Send again even if that week was already sent.")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with the slug {options['workspace']!r}.")
        week = options["week"] or latest_week_key(zone=workspace_zone(workspace.timezone), now=timezone.now())
        try:
            week_key_parse(week)
        except ValueError as exc:
            raise CommandError(f"--week: {exc}") from None
        outcome = weekly_summary_send(workspace=workspace, week_key=week, force=options["force"])
        message = MESSAGES[outcome].format(
            week=week, slug=workspace.slug, n=len(summary_recipients(workspace=workspace))
        )
        if outcome is SendOutcome.SENT:
            self.stdout.write(self.style.SUCCESS(message))
        elif outcome is SendOutcome.ALREADY_SENT:
            self.stdout.write(message)
        else:
            raise CommandError(message)
