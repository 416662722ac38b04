"""Calendly webhooks: verify `Calendly-Webhook-Signature` (t=…,v1=HMAC-SHA256(signing key, "t.body"),
the shared 5-minute tolerance), then route by event: invitee.created, invitee.canceled,
invitee_no_show.created."""

import datetime
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.events import event_record
from integrations.inbound import (
    NOT_JSON,
    DeliveryNotReady,
    Inbound,
    json_body,
    json_delivery_dispatch,
    storable,
    timestamped_signed_body,
    unusable,
)
from integrations.models import Connection, WebhookDelivery, delivery_event_key
from tracking.models import Source
from workspaces.models import Workspace

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
KEEP_HEADERS = (SIGNATURE_HEADER,)


def _event_id(data: dict[str, Any]) -> str:
    """Calendly sends no event id: the event name plus the resource URI is unique per occurrence."""
    payload = data.get("payload") or {}
    uri = payload.get("uri") or ""
    return f"{data.get('event')}:{uri}" if isinstance(uri, str) and uri else ""


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    payload = timestamped_signed_body(
        request=request, header=SIGNATURE_HEADER, secret=connection.credentials.get("signing_key", "")
    )
    data = json_body(payload)
    if data is None:
        return [unusable(payload, NOT_JSON)]
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        return [unusable(payload, "Expected a Calendly event with a payload object.")]
    event_id = _event_id(data)
    if not event_id:
        return [unusable(payload, "The Calendly payload has no uri.")]
    return [Inbound(provider_event_id=event_id, event_type=str(data.get("event", "")), body=payload)]


def _when(*values: Any) -> datetime.datetime:
    for value in values:
        if isinstance(value, str) and (parsed := parse_datetime(value)):
            return parsed
    return timezone.now()


def _booking_properties(payload: dict[str, Any], title: str) -> dict[str, Any]:
    scheduled = payload.get("scheduled_event") or {}
    properties: dict[str, Any] = {"title": title, "provider": "calendly", "invitee_uri": payload.get("uri")}
    if scheduled:
        properties.update(
            {
                "meeting": scheduled.get("name"),
                "start_time": scheduled.get("start_time"),
                "event_uri": scheduled.get("uri"),
            }
        )
    tracking = {k: v for k, v in (payload.get("tracking") or {}).items() if v}
    if tracking:
        properties["tracking"] = tracking
    return properties


def _invitee_created(*, workspace: Workspace, data: dict[str, Any], delivery: WebhookDelivery) -> None:
    payload = data["payload"]
    event_record(
        workspace=workspace,
        provider="calendly",
        event="booking_created",
        source=Source.WEBHOOK,
        message_id=f"calendly:{delivery.provider_event_id}",
        occurred_at=_when(payload.get("created_at"), data.get("created_at")),
        properties=_booking_properties(payload, "Calendly booking"),
        email=payload.get("email"),
        # A phone typed into the booking form is kept as an identifier; it does not lift to rung 3.
        phone=payload.get("text_reminder_number"),
        traits={"name": payload["name"]} if payload.get("name") else None,
        account_signal=True,
    )


def _invitee_canceled(*, workspace: Workspace, data: dict[str, Any], delivery: WebhookDelivery) -> None:
    payload = data["payload"]
    cancellation = payload.get("cancellation") or {}
    properties = _booking_properties(payload, "Calendly booking cancelled")
    if cancellation.get("reason"):
        properties["reason"] = cancellation["reason"]
    event_record(
        workspace=workspace,
        provider="calendly",
        event="booking_cancelled",
        source=Source.WEBHOOK,
        message_id=f"calendly:{delivery.provider_event_id}",
        occurred_at=_when(cancellation.get("created_at"), payload.get("updated_at"), data.get("created_at")),
        properties=properties,
        email=payload.get("email"),
    )


def _no_show(*, workspace: Workspace, data: dict[str, Any], delivery: WebhookDelivery) -> None:
    """The no-show payload names the invitee by URI only: find its email in the stored booking."""
    payload = data["payload"]
    invitee_uri = payload.get("invitee") or ""
    booking = WebhookDelivery.objects.filter(
        workspace=workspace, provider="calendly", event_key=delivery_event_key(f"invitee.created:{invitee_uri}")
    ).first()
    email = payload.get("email")
    if booking is not None and not email:
        email = (storable(json.loads(booking.body)).get("payload") or {}).get("email")
    if not email:
        raise DeliveryNotReady(f"No stored booking for invitee {invitee_uri}; will retry.")
    event_record(
        workspace=workspace,
        provider="calendly",
        event="booking_no_show",
        source=Source.WEBHOOK,
        message_id=f"calendly:{delivery.provider_event_id}",
        occurred_at=_when(payload.get("created_at"), data.get("created_at")),
        properties={"title": "Calendly no-show", "provider": "calendly", "invitee_uri": invitee_uri},
        email=email,
    )


HANDLERS: dict[str, Callable[..., None]] = {
    "invitee.created": _invitee_created,
    "invitee.canceled": _invitee_canceled,
    "invitee_no_show.created": _no_show,
}


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    return json_delivery_dispatch(delivery, HANDLERS, type_key="event", payload_arg="data", delivery=delivery)
