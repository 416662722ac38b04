"""Sending a weekly summary: once per workspace and ISO week.

Two guards make a send happen once: a Redis lock (cache.add, with a TTL so a crashed worker never
blocks a week) keeps two ticks or retries from sending at the same moment, and the `summary.sent`
audit row, written after the mail went out, tells every later tick that the week is done.
"""

import enum
import secrets

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.utils import timezone

from agents.summary.periods import period_for_week, week_key_parse, workspace_zone
from agents.summary.render import summary_html, summary_pdf, summary_pdf_filename, summary_subject, summary_text
from agents.summary.selectors import weekly_summary_get
from workspaces.models import AuditLog, Workspace
from workspaces.services import audit_log_record

SENT_ACTION = "summary.sent"
LOCK_TTL_SECONDS = 15 * 60


class SendOutcome(enum.StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    IN_PROGRESS = "in_progress"
    NO_RECIPIENTS = "no_recipients"


def summary_recipients(*, workspace: Workspace) -> list[str]:
    """Valid, distinct addresses from the workspace setting, in their order."""
    seen: dict[str, None] = {}
    for raw in workspace.summary_recipients or []:
        email = str(raw).strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            continue
        seen.setdefault(email, None)
    return list(seen)


def summary_sent(*, workspace_id: int, week_key: str) -> bool:
    return AuditLog.objects.filter(workspace_id=workspace_id, action=SENT_ACTION, target=week_key).exists()


def summaries_sent(*, workspace_ids: list[int], week_keys: set[str]) -> set[tuple[int, str]]:
    """Which of these (workspace, week) pairs were sent, in one query."""
    return set(
        AuditLog.objects.filter(workspace_id__in=workspace_ids, action=SENT_ACTION, target__in=week_keys).values_list(
            "workspace_id", "target"
        )
    )


def _lock_key(workspace_id: int, week_key: str) -> str:
    return f"agents:summary:lock:{workspace_id}:{week_key}"


def weekly_summary_send(*, workspace: Workspace, week_key: str, force: bool = False) -> SendOutcome:
    """Email the summary of `week_key` with its PDF to the workspace's recipients, once.

    `force` sends again a week already sent (the lock still applies). SMTP and connection errors
    propagate, with nothing recorded, so the caller can retry."""
    week_key_parse(week_key)
    recipients = summary_recipients(workspace=workspace)
    if not recipients:
        return SendOutcome.NO_RECIPIENTS
    lock, token = _lock_key(workspace.pk, week_key), secrets.token_hex(8)
    if not cache.add(lock, token, timeout=LOCK_TTL_SECONDS):
        return SendOutcome.IN_PROGRESS
    try:
        if not force and summary_sent(workspace_id=workspace.pk, week_key=week_key):
            return SendOutcome.ALREADY_SENT
        summary = weekly_summary_get(
            workspace=workspace,
            period=period_for_week(week_key, workspace_zone(workspace.timezone)),
            now=timezone.now(),
        )
        message = EmailMultiAlternatives(
            subject=summary_subject(summary),
            body=summary_text(summary, workspace_slug=workspace.slug),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
        )
        message.attach_alternative(summary_html(summary, workspace_slug=workspace.slug), "text/html")
        message.attach(
            summary_pdf_filename(summary, workspace_slug=workspace.slug),
            summary_pdf(summary, workspace_slug=workspace.slug),
            "application/pdf",
        )
        message.send()
        audit_log_record(
            workspace=workspace,
            actor=None,
            action=SENT_ACTION,
            target=week_key,
            details={"recipients": len(recipients), "counts": summary.counts(), "forced": force},
        )
        return SendOutcome.SENT
    finally:
        if cache.get(lock) == token:
            cache.delete(lock)
