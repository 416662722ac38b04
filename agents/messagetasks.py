"""Celery tasks that send queued messages. Their names keep the `integrations.` prefix they were
queued under before sending moved to agents: messages already queued (and any worker) find them."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from celery import Task, shared_task
from django.db import transaction

from agents.messagedelivery import message_deliver, messages_deliver
from integrations.errors import MessageSendRetryable

# Inside messages_send_batched(): the ids of messages due now (agents.messaging._schedule adds them),
# sent together when the block ends.
SEND_BATCH: ContextVar[list[int] | None] = ContextVar("messages_batch", default=None)


@contextmanager
def messages_send_batched() -> Iterator[None]:
    """Messages queued inside this block (outside a transaction) and due now leave together in one
    `integrations.messages_send` task after it: one ingest for all their `message_sent` events
    instead of one each (the agents' bursts: 1,000 reminders due at 09:00)."""
    ids: list[int] = []
    token = SEND_BATCH.set(ids)
    try:
        yield
    finally:
        SEND_BATCH.reset(token)
        # After the commits that fill `ids` (at once outside a transaction; in order inside one).
        transaction.on_commit(lambda: ids and messages_send.delay(ids))


@shared_task(name="integrations.messages_send", acks_late=True)
def messages_send(message_ids: list[int]) -> dict[int, str]:
    """Send a batch of queued messages (`messages_send_batched`); one that failed temporarily goes on
    alone through `message_send`, with its backoff."""
    statuses = messages_deliver(message_ids=message_ids)
    for pk, status in statuses.items():
        if status == "retry":
            message_send.apply_async(args=(pk,), countdown=30)
    return statuses


@shared_task(name="integrations.message_send", bind=True, max_retries=5, acks_late=True)
def message_send(self: Task, message_id: int) -> str:
    try:
        return message_deliver(message_id=message_id)
    except MessageSendRetryable as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 3600)) from exc
