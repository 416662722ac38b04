"""SendGrid signed Event Webhook: verify the ECDSA signature over `timestamp + body`, then store each
event of the batch as its own delivery (deduplicated by `sg_event_id`) and route by event type."""

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from identity.stitching.stitcher import events_ingest_stitched
from integrations.events import EventRejected, event_by_key, event_customer, event_input
from integrations.inbound import (
    Inbound,
    WebhookRejected,
    body_text,
    json_body,
    json_delivery_dispatch,
    signature_timestamp_check,
    signature_timestamp_parse,
    storable,
    unusable,
)
from integrations.messagehooks import EMAIL, DeliveryReceipt, ReceiptStatus, delivery_receipt_hand_over
from integrations.models import Connection, DeliveryStatus, WebhookDelivery
from integrations.optout import email_opt_out
from integrations.sendgrid.client import signature_valid
from tracking.inputs import EventInput
from tracking.models import Source
from workspaces.models import Workspace

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
KEEP_HEADERS = (SIGNATURE_HEADER, TIMESTAMP_HEADER)
# A SendGrid event's own timestamp outside these bounds is not believed: the receive time is used.
_EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_LATEST_AHEAD = datetime.timedelta(days=1)


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected(400, f"Missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header.")
    key = connection.credentials.get("verification_key", "")
    if not key:
        raise WebhookRejected(403, "No SendGrid verification key is configured.")
    signed_at = signature_timestamp_parse(timestamp, name=TIMESTAMP_HEADER)
    payload = body_text(request)
    if not signature_valid(verification_key=key, payload=payload, signature=signature, timestamp=timestamp):
        raise WebhookRejected(401, "SendGrid signature does not match the body and timestamp.")
    signature_timestamp_check(signed_at)
    events = json_body(payload)
    if not isinstance(events, list):
        return [unusable(payload, "Expected a JSON array of SendGrid events.")]
    return [_event_inbound(item) for item in events]


def _event_inbound(item: Any) -> Inbound:
    """One event of the batch: its own delivery, or a rejected one naming the problem (the others of
    the batch are stored whatever this one holds)."""
    body = json.dumps(item)  # ASCII: NUL and lone surrogates travel escaped, so the body is storable
    if not isinstance(item, dict):
        return unusable(body, "A SendGrid event must be a JSON object.")
    event_id = item.get("sg_event_id")
    if not isinstance(event_id, str) or not event_id:
        return unusable(body, "The SendGrid event has no sg_event_id.")
    event_type = item.get("event")
    if not isinstance(event_type, str):
        return unusable(body, "The SendGrid event has no event type.", provider_event_id=event_id)
    return Inbound(provider_event_id=event_id, event_type=event_type, body=body)


def _occurred_at(item: dict[str, Any]) -> datetime.datetime:
    """The event's own time when it is believable; else the receive time."""
    ts = item.get("timestamp")
    now = timezone.now()
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        try:
            at = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return now
        if _EARLIEST <= at <= now + _LATEST_AHEAD:
            return at
    return now


def _message_update(workspace: Workspace, item: dict[str, Any], status: ReceiptStatus) -> None:
    """Our own message id travels in the SMTP API unique args (see agents.emaildelivery)."""
    message_pk = str(item.get("clarm_message_id") or "")
    if message_pk.isascii() and message_pk.isdigit() and len(message_pk) < 19:
        delivery_receipt_hand_over(
            DeliveryReceipt(workspace=workspace, channel=EMAIL, status=status, message_id=int(message_pk))
        )


@dataclass(frozen=True)
class _Mapping:
    name: str
    title: str
    message_status: ReceiptStatus | None = None
    opt_out: bool = False


MAPPINGS: dict[str, _Mapping] = {
    "delivered": _Mapping("email_delivered", "Email delivered", message_status="delivered"),
    "open": _Mapping("email_opened", "Email opened"),
    "click": _Mapping("email_clicked", "Email link clicked"),
    "bounce": _Mapping("email_bounced", "Email bounced", message_status="failed"),
    "dropped": _Mapping("email_bounced", "Email dropped", message_status="failed"),
    "spamreport": _Mapping("email_spam_reported", "Email marked as spam", opt_out=True),
    "unsubscribe": _Mapping("email_unsubscribed", "Unsubscribed from marketing email", opt_out=True),
    "group_unsubscribe": _Mapping("email_unsubscribed", "Unsubscribed from marketing email", opt_out=True),
}


def _input(mapping: _Mapping, item: dict[str, Any]) -> EventInput:
    properties: dict[str, Any] = {"title": mapping.title, "provider": "sendgrid", "sendgrid_event": item.get("event")}
    for key in ("url", "reason", "status", "type", "category", "sg_message_id", "bounce_classification"):
        if item.get(key):
            properties[key] = item[key]
    return event_input(
        provider="sendgrid",
        event=mapping.name,
        source=Source.EMAIL,
        message_id=f"sendgrid:{item['sg_event_id']}",
        occurred_at=_occurred_at(item),
        properties=properties,
        email=item["email"] if isinstance(item.get("email"), str) else None,
    )


def _after(workspace: Workspace, mapping: _Mapping, item: dict[str, Any], event: EventInput) -> None:
    """What an event changes besides the timeline: our message's status, the person's opt-out."""
    if mapping.message_status:
        _message_update(workspace, item, mapping.message_status)
    if mapping.opt_out:
        customer = event_customer(event_by_key(workspace=workspace, item=event))
        if customer is not None:
            email_opt_out(workspace=workspace, customer=customer)


def _handler(mapping: _Mapping) -> Callable[..., None]:
    def handle(*, workspace: Workspace, item: dict[str, Any]) -> None:
        event = _input(mapping, item)
        result = events_ingest_stitched(workspace=workspace, events=[event])
        if result.rejected:
            raise EventRejected(str(result.rejected))
        _after(workspace, mapping, item, event)

    return handle


HANDLERS: dict[str, Callable[..., None]] = {kind: _handler(mapping) for kind, mapping in MAPPINGS.items()}


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    return json_delivery_dispatch(delivery, HANDLERS, type_key="event", payload_arg="item")


def process_many(*, workspace: Workspace, deliveries: list[WebhookDelivery]) -> dict[int, tuple[str, str]]:
    """`process` for many deliveries of one workspace at once: their events in ONE `events_ingest`
    (one transaction), then what each changes besides the timeline. For each delivery, its status and
    error. The caller falls back to `process` one by one if this raises."""
    out: dict[int, tuple[str, str]] = {}
    todo: list[tuple[WebhookDelivery, _Mapping, dict[str, Any], EventInput]] = []
    for delivery in deliveries:
        item = storable(json.loads(delivery.body))
        if not isinstance(item, dict):
            out[delivery.pk] = (DeliveryStatus.REJECTED, "The body is not a JSON object.")
            continue
        mapping = MAPPINGS.get(str(item.get("event")))
        if mapping is None:
            out[delivery.pk] = (DeliveryStatus.IGNORED, "")
            continue
        todo.append((delivery, mapping, item, _input(mapping, item)))
    result = events_ingest_stitched(workspace=workspace, events=[event for *_, event in todo])
    refused = {r["index"]: r["error"] for r in result.rejected}
    for index, (delivery, mapping, item, event) in enumerate(todo):
        if index in refused:
            out[delivery.pk] = (DeliveryStatus.REJECTED, str(refused[index]))
            continue
        _after(workspace, mapping, item, event)
        out[delivery.pk] = (DeliveryStatus.PROCESSED, "")
    return out
