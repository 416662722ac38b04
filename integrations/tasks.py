"""Celery tasks of integrations: take ids, call a service, idempotent, retry with backoff."""

from celery import Task, shared_task

from clarm.publish import task_publish
from integrations.models import DeliveryStatus


@shared_task(name="integrations.webhook_process", bind=True, max_retries=6, acks_late=True)
def webhook_process(self: Task, delivery_id: int) -> object:
    from integrations.services import delivery_process

    status = delivery_process(delivery_id=delivery_id)
    if status == DeliveryStatus.FAILED and self.request.retries < (self.max_retries or 0):
        # 30 s, 1 min, 2 min, … capped at 1 h; the failure stays visible in the admin meanwhile.
        # throw=False: the failure is already recorded on the delivery, so this run ends normally
        # (and an eager run, in tests, goes straight on to the retry).
        retry = self.retry(countdown=min(30 * 2**self.request.retries, 3600), throw=False)
        if self.request.is_eager:
            return retry  # Task.apply() runs the retry at once
    return status


@shared_task(name="integrations.deliveries_resume")
def deliveries_resume() -> int:
    """Queue deliveries stored but never processed (the queue was down when they arrived)."""
    from integrations.services import deliveries_stuck

    ids = deliveries_stuck()
    return sum(task_publish(webhook_process, delivery_id) for delivery_id in ids)


@shared_task(name="integrations.message_send", bind=True, max_retries=5, acks_late=True)
def message_send(self: Task, message_id: int) -> str:
    from integrations.messaging import MessageSendRetryable, message_deliver

    try:
        return message_deliver(message_id=message_id)
    except MessageSendRetryable as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc
