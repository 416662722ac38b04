"""Celery tasks of destinations: take ids, call a service, idempotent (rows are unique per
(destination, key); sending claims rows with a lease)."""

from celery import shared_task

from integrations.destinations import dispatch
from integrations.destinations.services import deliveries_due, deliveries_from_events, destination_flush


@shared_task(name="integrations.destinations_process", acks_late=True)
def destinations_process(workspace_id: int, event_ids: list[int]) -> int:
    destination_ids = deliveries_from_events(workspace_id=workspace_id, event_ids=event_ids)
    for destination_id in destination_ids:
        dispatch.flush_soon(destination_id)
    return len(destination_ids)


@shared_task(name="integrations.destination_flush", acks_late=True)
def destination_flush_task(destination_id: int) -> dict[str, int]:
    return destination_flush(destination_id=destination_id, linger=dispatch.batch_linger())


@shared_task(name="integrations.destinations_sweep")
def destinations_sweep() -> int:
    """On beat, every minute: send what is due (retries, rows written while the queue was down,
    leases of a worker that died)."""
    ids = deliveries_due()
    for destination_id in ids:
        destination_flush(destination_id=destination_id)
    return len(ids)
