"""Celery tasks of the agents app: the built-in agents (every minute) and the Friday 17:00 weekly summary.

`agents.tick` runs every minute (CELERY_BEAT_SCHEDULE): it plans the switched-on agents' actions from
what arrived since the last run and does the ones due, each exactly once (agents.runner).

`agents.weekly_summaries_due` runs every 15 minutes (CELERY_BEAT_SCHEDULE) and queues one send per
workspace whose local time is Friday from 17:00 and whose week was not sent yet; the send itself is
idempotent, so a duplicate queue entry or a retry never mails twice.
"""

import datetime
import smtplib

from celery import shared_task
from celery.result import EagerResult
from django.utils import timezone

from agents.messagetasks import messages_send_batched
from agents.runner import action_run, actions_due_ids, scan_all
from agents.summary.periods import due_week_key, workspace_zone
from agents.summary.services import summaries_sent, weekly_summary_send
from workspaces.models import Workspace

# Due actions per `agents.actions_run` task: small enough that every worker gets a share of a burst.
ACTION_CHUNK = 20
# Recoverable: the mail server or the network. Anything else is a bug and is not retried.
SMTP_ERRORS = (smtplib.SMTPException, ConnectionError, TimeoutError)


@shared_task(name="agents.weekly_summaries_due")
def weekly_summaries_due(now: str | None = None) -> list[list]:
    """Queue the summaries due at `now` (ISO 8601, default: the current time).

    Returns the [workspace_id, week_key] pairs queued."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    due: dict[int, str] = {}
    rows = Workspace.objects.exclude(summary_recipients=[]).values_list("pk", "timezone").order_by("pk")
    for workspace_id, zone_name in rows.iterator():
        key = due_week_key(zone=workspace_zone(zone_name), now=moment)
        if key is not None:
            due[workspace_id] = key
    done = summaries_sent(workspace_ids=list(due), week_keys=set(due.values())) if due else set()
    queued = []
    for workspace_id, key in due.items():
        if (workspace_id, key) not in done:
            weekly_summary_send_task.delay(workspace_id, key)
            queued.append([workspace_id, key])
    return queued


@shared_task(
    name="agents.weekly_summary_send",
    autoretry_for=SMTP_ERRORS,
    retry_backoff=60,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=6,
)
def weekly_summary_send_task(workspace_id: int, week_key: str) -> str:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return "workspace_gone"
    return str(weekly_summary_send(workspace=workspace, week_key=week_key))


@shared_task(name="agents.tick")
def agents_tick(now: str | None = None) -> dict[str, int]:
    """Plan from what arrived, then fan the due actions out to `agents.actions_run` tasks of
    ACTION_CHUNK each, so every worker shares a burst (1,000 reminders due at 09:00). Returns the
    counts; `queued` is what went to workers (eager, as in tests: done inline and counted)."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    scanned = scan_all(now=moment)
    counts = {"planned": scanned.planned, "cancelled": scanned.cancelled, "done": 0, "other": 0, "queued": 0}
    after = 0
    while ids := actions_due_ids(now=moment, after=after):
        after = ids[-1]
        for start in range(0, len(ids), ACTION_CHUNK):
            chunk = ids[start : start + ACTION_CHUNK]
            result = actions_run_task.delay(chunk, moment.isoformat())
            if isinstance(result, EagerResult) and isinstance(result.result, dict):  # inline: count what it did
                for name, value in result.result.items():
                    counts[name] += value
            else:
                counts["queued"] += len(chunk)
    return counts


@shared_task(name="agents.actions_run", acks_late=True)
def actions_run_task(action_ids: list[int], now: str) -> dict[str, int]:
    """Do these due actions, each once (a row another worker holds, or one done already, is skipped)."""
    moment = datetime.datetime.fromisoformat(now)
    counts = {"done": 0, "other": 0}
    # The chunk's messages leave together: one ingest for their `message_sent` events.
    with messages_send_batched():
        for pk in action_ids:
            counts["done" if action_run(action_id=pk, now=moment) == "done" else "other"] += 1
    return counts
