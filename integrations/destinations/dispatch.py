"""Queueing destination work without slowing anyone down.

- `workspace_has_destinations`: answered from a per-process memo for `MEMO_SECONDS`, so ingest pays
  one dictionary lookup per request when a workspace has no destination (a destination added in
  another process starts receiving within that time).
- `flush_soon`: one flush per destination per `COALESCE_SECONDS` (a Redis/cache key), run that much
  later, so a burst of conversions goes out in a few batched requests instead of one per event.
- `flush_later`: the next retry (or a batch still filling, `BATCH_LINGER_SECONDS`), at its time.
Every enqueue failure (broker down) is logged and swallowed: the rows are the truth, and the sweep
on beat sends whatever is due."""

import logging
import time
from datetime import datetime

from celery import current_app
from django.core.cache import cache
from django.utils import timezone

from clarm.publish import task_publish
from integrations.destinations.models import Destination

logger = logging.getLogger(__name__)

MEMO_SECONDS = 10.0
COALESCE_SECONDS = 1.0
# A batching provider's flush waits up to this long for a full batch (Meta: 1,000 events).
BATCH_LINGER_SECONDS = 5.0
FLUSH_TASK = "integrations.destination_flush"
PROCESS_TASK = "integrations.destinations_process"

_memo: dict[int, tuple[float, bool]] = {}


def workspace_has_destinations(workspace_id: int) -> bool:
    now = time.monotonic()
    hit = _memo.get(workspace_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    found = Destination.objects.filter(workspace_id=workspace_id).exists()
    _memo[workspace_id] = (now + MEMO_SECONDS, found)
    return found


def workspace_forget(workspace_id: int) -> None:
    _memo.pop(workspace_id, None)


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def batch_linger() -> float:
    """Eager runs (tests) send at once; a worker lets a batch fill."""
    return 0.0 if _eager() else BATCH_LINGER_SECONDS


def flush_soon(destination_id: int) -> None:
    try:
        if _eager():
            current_app.tasks[FLUSH_TASK].apply(args=(destination_id,))
            return
        if cache.add(f"clarm:dest-flush:{destination_id}", 1, timeout=COALESCE_SECONDS):
            current_app.tasks[FLUSH_TASK].apply_async(args=(destination_id,), countdown=COALESCE_SECONDS)
    except Exception:
        logger.exception("could not queue a flush of destination %s (the sweep will send)", destination_id)


def flush_later(destination_id: int, *, at: datetime) -> None:
    if _eager():
        return  # tests drive retries by calling the flush with a later `now`
    try:
        countdown = max(0.0, (at - timezone.now()).total_seconds())
        # One scheduled flush per destination and second: flushes running close together (a burst,
        # an outage) must not pile up identical tasks in front of the others.
        if not cache.add(f"clarm:dest-later:{destination_id}:{int(at.timestamp())}", 1, timeout=countdown + 60):
            return
        current_app.tasks[FLUSH_TASK].apply_async(args=(destination_id,), countdown=countdown)
    except Exception:
        logger.exception("could not queue a retry of destination %s (the sweep will send)", destination_id)


def process_soon(workspace_id: int, event_ids: list[int]) -> bool:
    """Queue turning stitched events into deliveries; False when the queue is down."""
    # Bounded (clarm.publish): runs in the ingest request, which a hanging broker must never hold.
    return task_publish(current_app.tasks[PROCESS_TASK], workspace_id, event_ids)
