"""Shapes sent out: the customer and the event as the read API shows them, and the outbound
webhook body (DESIGN "Contracts pinned for the wave-2 features")."""

import secrets
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from identity.api.serializers import CustomerOut, EventOut
from identity.models import Customer
from tracking.models import Event
from workspaces.models import Workspace

WEBHOOK_TYPES = ("event.created", "customer.rung_reached", "high_intent_visitor")


def customer_data(customer: Customer | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    if customer.pk is None:  # the test event's made-up person has no identifiers to list
        data = {k: getattr(customer, k) for k in ("rung", "customer_number", "name", "company", "email", "phone")}
        return {"id": None, **data, "identifiers": [], "test": True}
    return dict(CustomerOut(customer).data)


def event_data(event: Event | None) -> dict[str, Any] | None:
    if event is None:
        return None
    if event.pk is None:
        return {"id": None, "event": event.event, "source": event.source, "properties": event.properties, "test": True}
    return dict(EventOut(event).data)


def timeline_url(workspace: Workspace, customer: Customer | None) -> str:
    if customer is None or customer.pk is None:
        return settings.CLARM_PUBLIC_URL.rstrip("/") + reverse("identity:customers", kwargs={"ws": workspace.slug})
    path = reverse("identity:customer", kwargs={"ws": workspace.slug, "pk": customer.pk})
    return settings.CLARM_PUBLIC_URL.rstrip("/") + path


def webhook_body(
    *, kind: str, delivery_id: int | None, customer: Customer | None, event: Event | None, data: dict[str, Any]
) -> dict[str, Any]:
    """`{"id": "msg_…", "type", "timestamp", "data": {"customer", "event", …moment data}}`. The id is
    stable per delivery, so a retry carries the same `webhook-id` and a receiver can dedupe."""
    msg = f"msg_{delivery_id}" if delivery_id is not None else f"msg_test_{secrets.token_hex(8)}"
    body_data: dict[str, Any] = {"customer": customer_data(customer), "event": event_data(event)}
    body_data.update(data)
    return {"id": msg, "type": kind, "timestamp": timezone.now().isoformat(), "data": body_data}
