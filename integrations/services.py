"""Writes of integrations: connections, inbound deliveries, tracked links.

Messages out (SMS/WhatsApp/email) are agents' (`agents.messaging`); opt-outs are in `integrations.optout`.
"""

import dataclasses
import logging
import secrets
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from clarm.publish import task_publish
from integrations.deliverywrite import deliveries_insert
from integrations.errors import IntegrationInputError
from integrations.inbound import Inbound, storable
from integrations.links import link_create
from integrations.models import (
    Connection,
    ConnectionStatus,
    DeliveryStatus,
    Provider,
    WebhookDelivery,
    delivery_event_key,
)
from integrations.providers import PROVIDERS, ProviderSpec
from integrations.tasks import webhook_process
from workspaces.models import Workspace
from workspaces.services import audit_log_record

logger = logging.getLogger(__name__)


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


def deliveries_schedule(*, delivery_ids: list[int]) -> None:
    """Process after commit: one Celery task for all of them (it retries what fails, with backoff)."""
    if delivery_ids:
        ids = list(delivery_ids)
        transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(delivery_ids: list[int]) -> None:
    # Bounded wait; when the broker is down the deliveries stay stored (status received) and the
    # sweep (deliveries_resume) sends them: the provider's answer never waits on our queue.
    task_publish(webhook_process, delivery_ids)


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


__all__ = [
    "IntegrationInputError",
    "Provider",
    "connection_disconnect",
    "connection_save",
    "connection_test",
    "deliveries_replay",
    "deliveries_schedule",
    "deliveries_store",
    "delivery_replay",
    "link_create",
]
