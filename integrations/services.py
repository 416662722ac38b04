"""Writes of integrations: connections, inbound deliveries, tracked links.

Messaging (SMS/WhatsApp/email out, opt-outs) lives in `integrations.messaging`.
"""

import dataclasses
import logging
import secrets
import traceback
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError, DataError, transaction
from django.db.models import F
from django.utils import timezone

from clarm.publish import task_publish
from integrations.deliverywrite import deliveries_insert
from integrations.events import EventRejected
from integrations.inbound import DeliveryNotReady, DeliveryUnusable, Inbound, provider_module, storable
from integrations.models import (
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    LinkChannel,
    LinkKind,
    Provider,
    TrackedLink,
    WebhookDelivery,
    delivery_event_key,
)
from integrations.providers import PROVIDERS, ProviderSpec
from workspaces.models import Workspace
from workspaces.services import audit_log_record

logger = logging.getLogger(__name__)


class IntegrationInputError(Exception):
    """Input the person must fix; the message says what."""


# --- connections --------------------------------------------------------------------------------


@transaction.atomic
def connection_save(*, workspace: Workspace, provider: str, values: dict[str, str], actor: User | None) -> Connection:
    """Connect (or update) a provider. Blank secret fields keep the stored value."""
    spec: ProviderSpec = PROVIDERS[provider]
    connection, created = Connection.objects.select_for_update().get_or_create(workspace=workspace, provider=provider)
    current = connection.credentials if not created else {}
    merged: dict[str, Any] = dict(current)
    for field in spec.fields:
        value = (values.get(field.name) or "").strip()
        if value:
            merged[field.name] = value
        elif field.required and not merged.get(field.name):
            raise IntegrationInputError(f"{field.label} is required.")
    if spec.generated_secret and not merged.get(spec.generated_secret):
        merged[spec.generated_secret] = "whsec_clarm_" + secrets.token_urlsafe(32)
    connection.set_credentials(merged)
    connection.status = ConnectionStatus.ACTIVE
    connection.updated_at = timezone.now()
    connection.save()
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="integration.connected" if created else "integration.updated",
        target=provider,
        details={"fields": sorted(k for k in values if values.get(k))},
    )
    return connection


@transaction.atomic
def connection_disconnect(*, workspace: Workspace, provider: str, actor: User | None) -> None:
    deleted, _ = Connection.objects.filter(workspace=workspace, provider=provider).delete()
    if deleted:
        audit_log_record(workspace=workspace, actor=actor, action="integration.disconnected", target=provider)


def connection_test(*, connection: Connection) -> tuple[bool, str]:
    """Call the provider with the stored credentials; record and return (ok, message)."""
    spec = PROVIDERS[connection.provider]
    try:
        ok, message = spec.test(connection.credentials)
    except Exception as exc:  # the provider's SDK errors vary; any failure is a failed test
        ok, message = False, f"{type(exc).__name__}: {exc}"[:300]
    Connection.objects.filter(pk=connection.pk).update(
        last_checked_at=timezone.now(),
        last_check_message=message[:300],
        status=ConnectionStatus.ACTIVE if ok else ConnectionStatus.ERROR,
    )
    return ok, message


# --- inbound deliveries -------------------------------------------------------------------------


@dataclasses.dataclass
class DeliveryReceipt:
    """What storing one request's events did: the ids of the new deliveries to process, how many
    were already stored, and the events rejected (`{"index", "error"}`, stored as rejected)."""

    new_ids: list[int] = dataclasses.field(default_factory=list)
    duplicates: int = 0
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def deliveries_store(
    *, workspace: Workspace, provider: str, inbound: list[Inbound], headers: dict[str, str]
) -> DeliveryReceipt:
    """Store a verified request's events in ONE transaction (one INSERT, skipping the event keys
    already stored) and queue their processing with ONE task after commit.

    Events the provider module found unusable are stored too, as `rejected` with the reason (keyed
    by their body, so a re-sent one is not stored twice). Database errors propagate so the caller
    answers 5xx and the provider retries; nothing of the request is then stored."""
    now = timezone.now()
    rows = [
        {
            "provider_event_id": storable(item.provider_event_id),
            "event_key": delivery_event_key(item.provider_event_id if not item.error else _REJECTED_KEY + item.body),
            "event_type": storable(item.event_type)[:80],
            "body": storable(item.body),
            "status": DeliveryStatus.REJECTED if item.error else DeliveryStatus.RECEIVED,
            "last_error": storable(item.error)[:2000],
            "processed_at": now if item.error else None,
        }
        for item in inbound
    ]
    rejected = [{"index": i, "error": item.error} for i, item in enumerate(inbound) if item.error]
    result = DeliveryReceipt(rejected=rejected)
    with transaction.atomic():
        result.new_ids = deliveries_insert(
            rows, workspace_id=workspace.pk, provider=provider, headers=headers, received_at=now, receipt=uuid.uuid4()
        )
        result.duplicates = len(inbound) - len(result.rejected) - len(result.new_ids)
        Connection.objects.filter(workspace=workspace, provider=provider).update(last_event_at=now)
        deliveries_schedule(delivery_ids=result.new_ids)
    return result


# Rejected events are keyed by their body: no provider event id can be this (it starts with NUL).
_REJECTED_KEY = "\x00rejected\x00"
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


def deliveries_schedule(*, delivery_ids: list[int]) -> None:
    """Process after commit: one Celery task for all of them (it retries what fails, with backoff)."""
    if delivery_ids:
        ids = list(delivery_ids)
        transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(delivery_ids: list[int]) -> None:
    from integrations.tasks import webhook_process

    # Bounded wait; when the broker is down the deliveries stay stored (status received) and the
    # sweep (deliveries_resume) sends them: the provider's answer never waits on our queue.
    task_publish(webhook_process, delivery_ids)


def deliveries_stuck(*, older_than_minutes: int = 10, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    rows = WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED, received_at__lt=cutoff)
    return list(rows.order_by("received_at").values_list("pk", flat=True)[:limit])


@transaction.atomic
def deliveries_replay(*, deliveries: list[WebhookDelivery], actor: User | None) -> None:
    """Staff action: process these deliveries again (rejected or failed ones once the cause is fixed;
    processed ones are left as they are by the task), with ONE task. Events dedupe by message id."""
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).exclude(
        status__in=(DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED)
    ).update(status=DeliveryStatus.RECEIVED, last_error="")
    for delivery in deliveries:
        audit_log_record(
            workspace=delivery.workspace,
            actor=actor,
            action="webhook.replayed",
            target=f"{delivery.provider}:{delivery.provider_event_id}"[:200],
        )
    deliveries_schedule(delivery_ids=[d.pk for d in deliveries])


def delivery_replay(*, delivery: WebhookDelivery, actor: User | None) -> None:
    deliveries_replay(deliveries=[delivery], actor=actor)


# --- tracked links ------------------------------------------------------------------------------


def link_create(
    *,
    workspace: Workspace,
    target_url: str,
    channel: str = LinkChannel.OTHER,
    customer_id: int | None = None,
    label: str = "",
    utm: dict[str, str] | None = None,
    message_id: int | None = None,
    kind: str = LinkKind.LINK,
) -> TrackedLink:
    from identity.models import Customer
    from integrations.validation import target_url_validate

    if kind == LinkKind.LINK:
        target_url = target_url_validate(target_url)
    if channel not in LinkChannel.values:
        raise IntegrationInputError(f"channel must be one of {', '.join(LinkChannel.values)}.")
    customer = None
    if customer_id is not None:
        # Scoped to the workspace: another workspace's customer id is "not there".
        customer = Customer.objects.filter(workspace=workspace, pk=customer_id).first()
        if customer is None:
            raise IntegrationInputError("No such customer in this workspace.")
    utm = utm or {}
    return TrackedLink.objects.create(
        workspace=workspace,
        kind=kind,
        target_url=target_url,
        channel=channel,
        customer=customer,
        label=label[:120],
        message_id=message_id,
        **{f"utm_{k}": (utm.get(k) or "")[:100] for k in ("source", "medium", "campaign", "term", "content")},
    )


__all__ = [
    "IntegrationInputError",
    "Provider",
    "connection_disconnect",
    "connection_save",
    "connection_test",
    "deliveries_process",
    "deliveries_replay",
    "deliveries_schedule",
    "deliveries_store",
    "delivery_process",
    "delivery_replay",
    "link_create",
]
