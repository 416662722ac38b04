"""Writes of integrations: connections, inbound deliveries, tracked links.

Messaging (SMS/WhatsApp/email out, opt-outs) lives in `integrations.messaging`.
"""

import logging
import secrets
import traceback
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from clarm.publish import task_publish
from integrations.inbound import Inbound, provider_module
from integrations.models import (
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    LinkChannel,
    LinkKind,
    Provider,
    TrackedLink,
    WebhookDelivery,
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


def delivery_store(
    *, workspace: Workspace, provider: str, inbound: Inbound, headers: dict[str, str]
) -> tuple[WebhookDelivery, bool]:
    """Store the raw delivery in its own transaction. Returns (delivery, created); a delivery with a
    provider event id already stored is a duplicate (created False). Database errors propagate so the
    caller answers 5xx and the provider retries."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                workspace=workspace,
                provider=provider,
                provider_event_id=inbound.provider_event_id[:255],
                event_type=inbound.event_type[:80],
                headers=headers,
                body=inbound.body,
            )
    except IntegrityError:
        existing = WebhookDelivery.objects.get(
            workspace=workspace, provider=provider, provider_event_id=inbound.provider_event_id[:255]
        )
        return existing, False
    Connection.objects.filter(workspace=workspace, provider=provider).update(last_event_at=delivery.received_at)
    return delivery, True


def delivery_process(*, delivery_id: int) -> str:
    """Map one stored delivery to events, once. Returns the delivery's status afterwards.

    Idempotent: a processed or ignored delivery is left alone; events carry message ids
    `<provider>:<provider event id>` so a replay never duplicates them."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return "missing"
        if delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED):
            return delivery.status
        delivery.attempts += 1
        connection = Connection.objects.filter(workspace_id=delivery.workspace_id, provider=delivery.provider).first()
        try:
            with transaction.atomic():
                used = provider_module(delivery.provider).process(delivery=delivery, connection=connection)
        except Exception as exc:
            logger.warning("webhook delivery %s failed: %s", delivery.pk, exc)
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]
            delivery.save(update_fields=["status", "attempts", "last_error"])
            return delivery.status
        delivery.status = DeliveryStatus.PROCESSED if used else DeliveryStatus.IGNORED
        delivery.processed_at = timezone.now()
        delivery.last_error = ""
        delivery.save(update_fields=["status", "attempts", "last_error", "processed_at"])
        return delivery.status


def delivery_schedule(*, delivery_id: int) -> None:
    """Process after commit through the Celery task (which retries with backoff)."""
    transaction.on_commit(lambda: _enqueue(delivery_id))


def _enqueue(delivery_id: int) -> None:
    from integrations.tasks import webhook_process

    # Bounded wait; when the broker is down the delivery stays stored (status received) and the
    # sweep (deliveries_resume) sends it: the provider's answer never waits on our queue.
    task_publish(webhook_process, delivery_id)


def deliveries_stuck(*, older_than_minutes: int = 10, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    rows = WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED, received_at__lt=cutoff)
    return list(rows.order_by("received_at").values_list("pk", flat=True)[:limit])


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, actor: User | None) -> None:
    """Staff action: process a failed (or any) delivery again. Events dedupe by message id."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.RECEIVED, last_error="")
    audit_log_record(
        workspace=delivery.workspace,
        actor=actor,
        action="webhook.replayed",
        target=f"{delivery.provider}:{delivery.provider_event_id}",
    )
    delivery_schedule(delivery_id=delivery.pk)


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
    "delivery_process",
    "delivery_replay",
    "delivery_schedule",
    "delivery_store",
    "link_create",
]
