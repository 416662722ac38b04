"""Celery tasks of enrichment: ids in, idempotent."""

from clarm.tasks_retry import db_task
from enrichment.services import events_enrich_and_score


@db_task("enrichment.events_enrich_and_score")
def events_enrich_and_score_task(workspace_id: int, event_ids: list[int]) -> int:
    return events_enrich_and_score(workspace_id=workspace_id, event_ids=event_ids)


def events_process_enqueue(workspace_id: int, event_ids: list[int]) -> None:
    """Subscriber of tracking's after-commit hook: enrichment and scoring run in a worker."""
    events_enrich_and_score_task.delay(workspace_id, event_ids)
