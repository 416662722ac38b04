"""SendGrid signed Event Webhook: verify the ECDSA signature over `timestamp + body`, then store each
event of the batch as its own delivery (deduplicated by `sg_event_id`) and route by event type."""

import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from agents.models import Channel, Message, MessageStatus
from integrations.events import event_customer, event_record
from integrations.inbound import Inbound, WebhookRejected, body_text, json_delivery_dispatch
from integrations.messaging import email_opt_out
from integrations.models import Connection, WebhookDelivery
from integrations.sendgrid.client import signature_valid
from tracking.models import Source
from workspaces.models import Workspace

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
KEEP_HEADERS = (SIGNATURE_HEADER, TIMESTAMP_HEADER)
# SendGrid retries failed posts for up to 72 hours with the original signature and timestamp.
TOLERANCE_SECONDS = 72 * 3600


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected(400, f"Missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header.")
    key = connection.credentials.get("verification_key", "")
    if not key:
        raise WebhookRejected(403, "No SendGrid verification key is configured.")
    payload = body_text(request)
    if not signature_valid(verification_key=key, payload=payload, signature=signature, timestamp=timestamp):
        raise WebhookRejected(401, "SendGrid signature does not match the body and timestamp.")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise WebhookRejected(401, "SendGrid signature timestamp is too old.")
    try:
        events = json.loads(payload)
    except ValueError as exc:
        raise WebhookRejected(400, "The body is not JSON.") from exc
    if not isinstance(events, list):
        raise WebhookRejected(400, "Expected a JSON array of SendGrid events.")
    inbound = []
    for item in events:
        if not isinstance(item, dict) or not isinstance(item.get("sg_event_id"), str) or not item["sg_event_id"]:
            raise WebhookRejected(400, "Every SendGrid event needs an sg_event_id.")
        inbound.append(
            Inbound(provider_event_id=item["sg_event_id"], event_type=str(item.get("event", "")), body=json.dumps(item))
        )
    return inbound


def _occurred_at(item: dict[str, Any]) -> datetime.datetime:
    ts = item.get("timestamp")
    if isinstance(ts, int | float):
        return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    return timezone.now()


def _message_update(workspace: Workspace, item: dict[str, Any], status: str) -> None:
    """Our own message id travels in the SMTP API unique args (see integrations.email.sending)."""
    message_pk = str(item.get("clarm_message_id") or "")
    if message_pk.isascii() and message_pk.isdigit() and len(message_pk) < 19:
        Message.objects.filter(workspace=workspace, pk=int(message_pk), channel=Channel.EMAIL).exclude(
            status=MessageStatus.CANCELLED
        ).update(status=status, updated_at=timezone.now())


def _handler(name: str, title: str, *, message_status: str = "", opt_out: bool = False) -> Callable[..., None]:
    def handle(*, workspace: Workspace, item: dict[str, Any]) -> None:
        properties: dict[str, Any] = {"title": title, "provider": "sendgrid", "sendgrid_event": item.get("event")}
        for key in ("url", "reason", "status", "type", "category", "sg_message_id", "bounce_classification"):
            if item.get(key):
                properties[key] = item[key]
        event = event_record(
            workspace=workspace,
            provider="sendgrid",
            event=name,
            source=Source.EMAIL,
            message_id=f"sendgrid:{item['sg_event_id']}",
            occurred_at=_occurred_at(item),
            properties=properties,
            email=item.get("email"),
        )
        if message_status:
            _message_update(workspace, item, message_status)
        customer = event_customer(event)
        if opt_out and customer is not None:
            email_opt_out(workspace=workspace, customer=customer)

    return handle


HANDLERS: dict[str, Callable[..., None]] = {
    "delivered": _handler("email_delivered", "Email delivered", message_status=MessageStatus.DELIVERED),
    "open": _handler("email_opened", "Email opened"),
    "click": _handler("email_clicked", "Email link clicked"),
    "bounce": _handler("email_bounced", "Email bounced", message_status=MessageStatus.FAILED),
    "dropped": _handler("email_bounced", "Email dropped", message_status=MessageStatus.FAILED),
    "spamreport": _handler("email_spam_reported", "Email marked as spam", opt_out=True),
    "unsubscribe": _handler("email_unsubscribed", "Unsubscribed from marketing email", opt_out=True),
    "group_unsubscribe": _handler("email_unsubscribed", "Unsubscribed from marketing email", opt_out=True),
}


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    return json_delivery_dispatch(delivery, HANDLERS, type_key="event", payload_arg="item")
