"""Processing stored webhook deliveries (the worker's side of integrations.services.deliveries_store):
each delivery mapped to events once by its provider's module, in chunks, a savepoint each."""

import logging
import traceback
from datetime import timedelta

from django.db import DatabaseError, DataError, transaction
from django.db.models import F
from django.utils import timezone

from integrations.events import EventRejected
from integrations.inbound import DeliveryNotReady, DeliveryUnusable, provider_module, storable
from integrations.models import Connection, DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

# A processing error of these kinds is the body's (a shape we cannot map, a value the database
# refuses): final, the delivery is rejected with the reason. Any other is retried with backoff.
_BODY_ERRORS = (DeliveryUnusable, EventRejected, DataError, KeyError, IndexError, TypeError, ValueError, AttributeError)


def delivery_process(*, delivery_id: int) -> str:
    """Map one stored delivery to events, once. Returns the delivery's status afterwards.

    Idempotent: a processed, ignored or rejected delivery is left alone; events carry message ids
    `<provider>:<provider event id>` so a replay never duplicates them. A body we cannot map is
    `rejected` with the reason (not retried), for the owner to see and staff to replay; any other
    failure (the database, an event still to arrive) leaves it `failed`, retried with backoff."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return "missing"
        if delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED):
            return delivery.status
        delivery.attempts += 1
        connection = Connection.objects.filter(workspace_id=delivery.workspace_id, provider=delivery.provider).first()
        try:
            with transaction.atomic():
                used = provider_module(delivery.provider).process(delivery=delivery, connection=connection)
        except Exception as exc:
            retry = not isinstance(exc, _BODY_ERRORS)
            logger.warning("webhook delivery %s %s: %s", delivery.pk, "failed" if retry else "rejected", exc)
            delivery.status = DeliveryStatus.FAILED if retry else DeliveryStatus.REJECTED
            delivery.last_error = storable(_error_text(exc))[:2000]
            delivery.save(update_fields=["status", "attempts", "last_error"])
            return delivery.status
        delivery.status = DeliveryStatus.PROCESSED if used else DeliveryStatus.IGNORED
        delivery.processed_at = timezone.now()
        delivery.last_error = ""
        delivery.save(update_fields=["status", "attempts", "last_error", "processed_at"])
        return delivery.status


# Deliveries processed per transaction: one commit for the chunk, a savepoint for each delivery.
PROCESS_CHUNK = 100


def deliveries_process(*, delivery_ids: list[int]) -> dict[int, str]:
    """Process the deliveries of a request: each in its own savepoint (one bad event never blocks the
    others: it is rejected or failed on its own), a chunk of PROCESS_CHUNK per transaction, so a
    1,000-event batch costs ten commits, not a thousand. A chunk the database fails as a whole (the
    connection lost) rolls back whole and is answered `failed` (to retry); nothing of it was kept."""
    statuses: dict[int, str] = {}
    for start in range(0, len(delivery_ids), PROCESS_CHUNK):
        chunk = delivery_ids[start : start + PROCESS_CHUNK]
        try:
            with transaction.atomic():
                done = _chunk_process_many(chunk)
                for delivery_id in chunk:
                    statuses[delivery_id] = done.get(delivery_id) or delivery_process(delivery_id=delivery_id)
        except DatabaseError:
            logger.exception("a chunk of %d webhook deliveries rolled back; will retry", len(chunk))
            statuses.update({delivery_id: DeliveryStatus.FAILED for delivery_id in chunk})
    return statuses


def _chunk_process_many(delivery_ids: list[int]) -> dict[int, str]:
    """The deliveries of a chunk whose provider maps many at once (`process_many`: SendGrid's batches),
    processed together in a savepoint: their events in one ingest, their statuses in a few UPDATEs.
    Returns the status of each delivery it took; if anything fails, the savepoint rolls back and
    nothing is taken (the caller processes them one by one, each failing on its own)."""
    pending = (DeliveryStatus.RECEIVED, DeliveryStatus.FAILED)
    rows = WebhookDelivery.objects.select_for_update(of=("self",)).select_related("workspace")
    deliveries = list(rows.filter(pk__in=delivery_ids, status__in=pending).order_by("pk"))
    groups: dict[tuple[str, int], list[WebhookDelivery]] = {}
    for delivery in deliveries:
        if hasattr(provider_module(delivery.provider), "process_many"):
            groups.setdefault((delivery.provider, delivery.workspace_id), []).append(delivery)
    if not groups:
        return {}
    try:
        with transaction.atomic():
            outcomes: dict[int, tuple[str, str]] = {}
            for (provider, _), group in groups.items():
                module = provider_module(provider)
                outcomes.update(module.process_many(workspace=group[0].workspace, deliveries=group))
            _statuses_save(outcomes)
    except Exception:
        logger.warning("processing %d deliveries together failed; one by one instead", len(deliveries), exc_info=True)
        return {}
    return {pk: status for pk, (status, _) in outcomes.items()}


def _statuses_save(outcomes: dict[int, tuple[str, str]]) -> None:
    """Record processing outcomes: one UPDATE per (status, error)."""
    now = timezone.now()
    by_outcome: dict[tuple[str, str], list[int]] = {}
    for pk, outcome in outcomes.items():
        by_outcome.setdefault(outcome, []).append(pk)
    for (status, error), pks in by_outcome.items():
        WebhookDelivery.objects.filter(pk__in=pks).update(
            status=status, attempts=F("attempts") + 1, last_error=storable(error)[:2000], processed_at=now
        )


def _error_text(exc: Exception) -> str:
    if isinstance(exc, DeliveryUnusable | DeliveryNotReady):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def deliveries_stuck(*, older_than_minutes: int = 10, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    rows = WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED, received_at__lt=cutoff)
    return list(rows.order_by("received_at").values_list("pk", flat=True)[:limit])
