"""Retention: delete events (and raw webhook payloads, and visits) older than the workspace's
retention period, in bounded batches, and record what was removed."""

import calendar
import time
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from identity.models import RetentionRun
from integrations.models import WebhookDelivery
from tracking.models import Event, Visit
from workspaces.models import Workspace

BATCH_SIZE = 5000


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's last day)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def retention_cutoff(*, workspace: Workspace, now: datetime | None = None) -> datetime:
    return months_before(now or timezone.now(), workspace.retention_months)


def _batched_delete(qs: QuerySet, *, batch_size: int) -> int:
    """Delete the rows of `qs` by id ranges, `batch_size` at a time, each batch its own transaction
    (short locks; an interrupted purge simply resumes next night)."""
    total = 0
    model = qs.model
    while True:
        ids = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        with transaction.atomic():
            _, per_model = qs.filter(pk__gte=ids[0], pk__lte=ids[-1]).delete()
        total += per_model.get(model._meta.label, 0)


def retention_purge(*, workspace: Workspace, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> RetentionRun:
    """Events that occurred before the cutoff go (an event exactly at the cutoff stays)."""
    started = time.monotonic()
    ran_at = now or timezone.now()
    cutoff = retention_cutoff(workspace=workspace, now=ran_at)
    events = _batched_delete(Event.objects.filter(workspace=workspace, occurred_at__lt=cutoff), batch_size=batch_size)
    visits = _batched_delete(Visit.objects.filter(workspace=workspace, last_event_at__lt=cutoff), batch_size=batch_size)
    payloads = _batched_delete(
        WebhookDelivery.objects.filter(workspace=workspace, received_at__lt=cutoff), batch_size=batch_size
    )
    return RetentionRun.objects.create(
        workspace=workspace,
        ran_at=ran_at,
        cutoff=cutoff,
        retention_months=workspace.retention_months,
        events_deleted=events,
        visits_deleted=visits,
        payloads_deleted=payloads,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
