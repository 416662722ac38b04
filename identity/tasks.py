"""Celery tasks of the identity app: the dashboard's rollup processor.

`identity.rollups_advance` is enqueued after commit by the ingest write path (tracking.services) with
the workspace id; it counts everything above the workspace's watermark, so one run catches up for
any number of lost or coalesced enqueues, and re-enqueues itself while a backlog remains.
`identity.rollups_rebuild_recent` (beat, nightly) recounts the last two days of every workspace."""

import datetime

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone

from clarm.publish import task_publish
from identity.rollups.processor import rollups_advance as advance
from identity.rollups.processor import rollups_customers_refresh, rollups_rebuild
from workspaces.models import Workspace


@shared_task(
    name="identity.rollups_advance",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def rollups_advance(workspace_id: int) -> None:
    if advance(workspace_id=workspace_id):
        rollups_advance.delay(workspace_id)


@shared_task(name="identity.rollups_rebuild_recent")
def rollups_rebuild_recent(days: int = 2) -> int:
    """Recount the last `days` days (UTC dates, widened by one for other zones) of every workspace."""
    today = timezone.now().date()
    start = today - datetime.timedelta(days=days)
    done = 0
    for workspace in Workspace.objects.order_by("pk").iterator():
        advance(workspace_id=workspace.pk)
        rollups_rebuild(workspace=workspace, start=start, end=today + datetime.timedelta(days=1))
        done += 1
    return done


@shared_task(
    name="identity.rollups_customers_refresh",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def rollups_customers_refresh_task(workspace_id: int, customer_ids: list[int]) -> None:
    rollups_customers_refresh(workspace_id=workspace_id, customer_ids=customer_ids)


def rollups_customers_schedule(workspace_id: int, customer_ids: list[int]) -> None:
    """Enqueue a facts refresh of customers whose events moved (call it from transaction.on_commit)."""
    rollups_customers_refresh_task.delay(workspace_id, customer_ids)


def rollups_queued_key(workspace_id: int) -> str:
    return f"clarm:rollups:queued:{workspace_id}"


def rollups_schedule(workspace_id: int) -> None:
    """Enqueue the processor for a workspace (call it from transaction.on_commit), at most once per
    CLARM_ROLLUPS_DEBOUNCE_SECONDS: the run is due when the window closes, so it counts every event
    committed while the window was open (they committed before the run reads)."""
    window = settings.CLARM_ROLLUPS_DEBOUNCE_SECONDS
    if window > 0 and not cache.add(rollups_queued_key(workspace_id), 1, timeout=window):
        return
    # Bounded (clarm.publish): called after the ingest commit, in the request; a run lost to a broker
    # outage is made up by the next schedule or the nightly rebuild.
    task_publish(rollups_advance, workspace_id, countdown=window)
