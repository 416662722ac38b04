"""Celery tasks of integrations: take ids, call a service, idempotent, retry with backoff."""

from celery import Task, shared_task

from clarm.publish import task_publish
from integrations.deliveryprocess import deliveries_process, deliveries_stuck
from integrations.models import DeliveryStatus

# Deliveries per task when the sweep queues what was stored while the queue was down.
RESUME_CHUNK = 100


@shared_task(name="integrations.webhook_process", bind=True, max_retries=6, acks_late=True)
def webhook_process(self: Task, delivery_ids: list[int] | int) -> object:
    """Process the deliveries of one request (one task per request, whatever its size), each in its
    own transaction, so one bad event never blocks the others; retry the ones that failed."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else list(delivery_ids)
    statuses = deliveries_process(delivery_ids=ids)
    failed = [delivery_id for delivery_id, status in statuses.items() if status == DeliveryStatus.FAILED]
    if failed and self.request.retries < (self.max_retries or 0):
        # 30 s, 1 min, 2 min, … capped at 1 h; the failure stays visible meanwhile.
        # throw=False: the failure is already recorded on the delivery, so this run ends normally
        # (and an eager run, in tests, goes straight on to the retry).
        retry = self.retry(args=(failed,), countdown=min(30 * 2**self.request.retries, 3600), throw=False)
        if self.request.is_eager:
            return retry  # Task.apply() runs the retry at once
    return statuses[ids[0]] if len(ids) == 1 else list(statuses.values())


@shared_task(name="integrations.deliveries_resume")
def deliveries_resume() -> int:
    """Queue deliveries stored but never processed (the queue was down when they arrived)."""
    ids = deliveries_stuck()
    chunks = [ids[start : start + RESUME_CHUNK] for start in range(0, len(ids), RESUME_CHUNK)]
    return sum(len(chunk) for chunk in chunks if task_publish(webhook_process, chunk))
