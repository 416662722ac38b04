"""Celery tasks of enrichment: ids in, idempotent."""

import functools
import logging

from clarm.publish import task_publish
from clarm.tasks_retry import db_task
from enrichment.intent import intent_decay
from enrichment.queue import events_queue_flag_raise, events_queue_push, events_queue_take
from enrichment.services import events_enrich_and_score

logger = logging.getLogger(__name__)

# A drain for events handed back because their people were held waits this long.
REQUEUE_DELAY_SECONDS = 0.2


@db_task("enrichment.events_enrich_and_score")
def events_enrich_and_score_task(workspace_id: int, event_ids: list[int]) -> int:
    return events_enrich_and_score(workspace_id=workspace_id, event_ids=event_ids)


@db_task("enrichment.events_drain")
def events_drain_task() -> int:
    """Process what the write path queued (enrichment.queue), grouped by workspace. A workspace
    whose processing fails is handed to the retried per-workspace task; the others go on."""
    by_workspace, more = events_queue_take()
    if more and events_queue_flag_raise():
        events_drain_task.delay()
    scored = 0
    for workspace_id, event_ids in by_workspace.items():
        try:
            scored += events_enrich_and_score(
                workspace_id=workspace_id, event_ids=event_ids, busy=functools.partial(_requeue, workspace_id)
            )
        except Exception:
            logger.exception("enrichment of workspace %s failed; retried on its own", workspace_id)
            events_enrich_and_score_task.delay(workspace_id, event_ids)
    return scored


def _requeue(workspace_id: int, event_ids: list[int]) -> None:
    """Events of people a concurrent drain (or a stitch batch) held: back on the queue, for the drain
    already scheduled, else for one a moment later (never a tight loop while a lock lasts)."""
    events_queue_push(
        workspace_id,
        event_ids,
        schedule=lambda: task_publish(events_drain_task, countdown=REQUEUE_DELAY_SECONDS),
        process=lambda ws, ids: task_publish(events_enrich_and_score_task, ws, ids),
    )


@db_task("enrichment.intent_decay", long_running=True)
def intent_decay_task() -> int:
    """Hourly (beat): scores fade between a person's events (enrichment.intent.intent_decay)."""
    return intent_decay()


def events_process_enqueue(workspace_id: int, event_ids: list[int]) -> None:
    """Subscriber of tracking's after-commit hook: one Redis round trip in the request; the work
    runs in a worker."""
    # Bounded publishes (clarm.publish): a broker that hangs never holds the ingest answer; a lost
    # drain is picked up by beat's sweep, a lost direct task by the person's next event.
    events_queue_push(
        workspace_id,
        event_ids,
        schedule=lambda: task_publish(events_drain_task),
        process=lambda ws, ids: task_publish(events_enrich_and_score_task, ws, ids),
    )
