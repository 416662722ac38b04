"""Twilio webhooks (messaging, status callbacks, voice): verify `X-Twilio-Signature` against the public
URL, then route by kind. One URL serves all three; the parameters say which it is."""

import datetime
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, QueryDict

from integrations.events import event_customer, event_record
from integrations.inbound import (
    DeliveryUnusable,
    Inbound,
    WebhookRejected,
    body_text,
    json_body,
    storable,
    unusable,
)
from integrations.messagehooks import (
    SMS,
    VOICE,
    WHATSAPP,
    DeliveryReceipt,
    InboundMessage,
    ReceiptStatus,
    delivery_receipt_hand_over,
    inbound_message_hand_over,
)
from integrations.models import Connection, WebhookDelivery
from integrations.optout import sms_intent, sms_opt_in, sms_opt_out
from integrations.twilio.client import signature_valid
from tracking.models import Source
from workspaces.models import Workspace

KEEP_HEADERS = ("X-Twilio-Signature", "I-Twilio-Idempotency-Token")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MISSED_CALL = frozenset({"no-answer", "busy", "canceled", "failed"})


def _kind(params: dict[str, str]) -> str:
    if params.get("CallSid"):
        return "call.status"
    if params.get("MessageStatus") and "Body" not in params:
        return "message.status"
    return "message.inbound"


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise WebhookRejected(400, "Missing X-Twilio-Signature header.")
    token = connection.credentials.get("auth_token", "")
    if not token:
        raise WebhookRejected(403, "No Twilio auth token is configured.")
    # Twilio signs the URL it was configured with: our public URL plus the path and query.
    url = settings.CLARM_PUBLIC_URL + request.get_full_path()
    if request.content_type == FORM:
        signed: QueryDict | str = request.POST
    elif request.content_type == JSON:
        if "bodySHA256" not in request.GET:
            raise WebhookRejected(400, "A Twilio JSON webhook carries the body's SHA-256 as ?bodySHA256= in the URL.")
        signed = body_text(request)
    else:
        raise WebhookRejected(415, f"Twilio webhooks are {FORM} (or {JSON} signed with ?bodySHA256=).")
    if not signature_valid(auth_token=token, url=url, params=signed, signature=signature):
        raise WebhookRejected(401, "Twilio signature does not match the URL and parameters.")
    body = request.body.decode("utf-8", "replace") if isinstance(signed, QueryDict) else signed
    params = _params(body, content_type=request.content_type)
    if params is None:
        return [unusable(body, "A Twilio JSON webhook body must be a JSON object of parameters.")]
    kind = _kind(params)
    if kind == "call.status":
        event_id = f"{params['CallSid']}:{params.get('CallStatus', '')}"
    elif kind == "message.status":
        event_id = f"{params.get('MessageSid') or params.get('SmsSid')}:{params['MessageStatus']}"
    else:
        event_id = params.get("MessageSid") or params.get("SmsSid") or ""
    if not event_id or event_id.startswith(("None", ":")):
        return [unusable(body, "No MessageSid or CallSid in the request.", event_type=kind)]
    return [Inbound(provider_event_id=event_id, event_type=kind, body=body)]


def _params(body: str, *, content_type: str) -> dict[str, str] | None:
    """Twilio's parameters from a stored body: form fields, or the top level of a JSON object (its
    scalar values as text, as the form would carry them). None: not an object."""
    if content_type != JSON:
        return dict(parse_qsl(body, keep_blank_values=True))
    data = json_body(body)
    if not isinstance(data, dict):
        return None
    return {
        str(k): ("true" if v is True else "false" if v is False else str(v))
        for k, v in data.items()
        if isinstance(v, str | int | float | bool)
    }


def _count(value: str | None) -> int | None:
    """A count Twilio sends as text (NumMedia, CallDuration); None when it is not a small whole number."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _address(value: str) -> tuple[str, str]:
    """(channel, E.164 number) from a Twilio address such as `whatsapp:+14155550100`."""
    if value.startswith("whatsapp:"):
        return WHATSAPP, value.removeprefix("whatsapp:")
    return SMS, value


def _message_inbound(*, workspace: Workspace, params: dict[str, str], delivery: WebhookDelivery) -> None:
    channel, phone = _address(params.get("From", ""))
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    body = params.get("Body", "")
    label = "WhatsApp" if channel == WHATSAPP else "SMS"
    event = event_record(
        workspace=workspace,
        provider="twilio",
        event=f"{channel}_received",
        source=Source.CHANNEL,
        message_id=f"twilio:{sid}",
        occurred_at=delivery.received_at,
        properties={
            "title": f"{label} message received",
            "channel": channel,
            "body": body[:1600],
            "provider_message_id": sid,
            # Not a count (a malformed NumMedia): left out rather than guessed.
            **({"media": media} if (media := _count(params.get("NumMedia") or "0")) is not None else {}),
        },
        phone=phone,
        traits={"name": params["ProfileName"]} if params.get("ProfileName") else None,
        phone_channel=True,
    )
    customer = event_customer(event)
    if customer is None:
        return
    inbound_message_hand_over(
        InboundMessage(
            workspace=workspace,
            customer=customer,
            channel=channel,
            body=body,
            provider_message_id=sid,
            at=delivery.received_at,
        )
    )
    intent = sms_intent(body)
    if intent is None:
        return
    if intent == "opt_out":
        cancelled = sms_opt_out(workspace=workspace, customer=customer)
    else:
        sms_opt_in(workspace=workspace, customer=customer)
        cancelled = 0
    event_record(
        workspace=workspace,
        provider="twilio",
        event="sms_opt_out" if intent == "opt_out" else "sms_opt_in",
        source=Source.CHANNEL,
        message_id=f"twilio:{sid}:{intent}",
        occurred_at=delivery.received_at + datetime.timedelta(microseconds=1),
        properties={
            "title": f"Opted {'out of' if intent == 'opt_out' else 'back in to'} marketing {label}",
            "channel": channel,
            "reply": body[:160],
            "cancelled_messages": cancelled,
        },
        phone=phone,
        phone_channel=True,
    )


STATUS_EVENTS: dict[str, tuple[str, str, ReceiptStatus]] = {
    "delivered": ("message_delivered", "delivered", "delivered"),
    "read": ("message_read", "read", "delivered"),
    "failed": ("message_failed", "failed", "failed"),
    "undelivered": ("message_failed", "not delivered", "failed"),
}


def _message_status(*, workspace: Workspace, params: dict[str, str], delivery: WebhookDelivery) -> bool:
    status = params.get("MessageStatus", "")
    if status not in STATUS_EVENTS:
        return False  # queued/sending/sent/accepted: nothing the timeline needs
    name, label, new_status = STATUS_EVENTS[status]
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    channel, phone = _address(params.get("To", ""))
    customer = delivery_receipt_hand_over(
        DeliveryReceipt(
            workspace=workspace,
            channel=channel,
            status=new_status,
            provider_message_id=sid,
            error=f"Twilio error {params['ErrorCode']}" if params.get("ErrorCode") else "",
        )
    )
    event_record(
        workspace=workspace,
        provider="twilio",
        event=name,
        source=Source.CHANNEL,
        message_id=f"twilio:{delivery.provider_event_id}",
        occurred_at=delivery.received_at,
        properties={
            "title": f"{'WhatsApp' if channel == WHATSAPP else 'SMS'} {label}",
            "channel": channel,
            "provider_message_id": sid,
            **({"error_code": params["ErrorCode"]} if params.get("ErrorCode") else {}),
        },
        phone=customer.phone if customer is not None and customer.phone else phone,
        phone_channel=True,
    )
    return True


def _call_status(*, workspace: Workspace, params: dict[str, str], delivery: WebhookDelivery) -> bool:
    status = params.get("CallStatus", "")
    inbound = params.get("Direction", "inbound") == "inbound"
    phone = params.get("From" if inbound else "To", "")
    if status in MISSED_CALL:
        name, title = "call_missed", "Missed call" if inbound else "Call not answered"
    elif status == "completed":
        name, title = "call_completed", "Phone call"
    elif status == "ringing" and inbound:
        name, title = "call_received", "Incoming call"
    else:
        return False
    properties: dict[str, object] = {
        "title": title,
        "channel": VOICE,
        "direction": "in" if inbound else "out",
        "call_status": status,
        "provider_call_id": params.get("CallSid"),
    }
    duration = _count(params.get("CallDuration"))
    if duration is not None:
        properties["duration_seconds"] = duration
    event_record(
        workspace=workspace,
        provider="twilio",
        event=name,
        source=Source.CHANNEL,
        message_id=f"twilio:{delivery.provider_event_id}",
        occurred_at=delivery.received_at,
        properties=properties,
        phone=phone,
        phone_channel=True,
    )
    return True


def _inbound_used(**kwargs: object) -> bool:
    _message_inbound(**kwargs)  # type: ignore[arg-type]
    return True


HANDLERS: dict[str, Callable[..., bool]] = {
    "message.inbound": _inbound_used,
    "message.status": _message_status,
    "call.status": _call_status,
}


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    content_type = next((v for k, v in delivery.headers.items() if k.lower() == "content-type"), FORM)
    params = _params(delivery.body, content_type=content_type.split(";")[0].strip().lower())
    if params is None:
        raise DeliveryUnusable("A Twilio JSON webhook body must be a JSON object of parameters.")
    params = storable(params)
    handler = HANDLERS.get(_kind(params))
    if handler is None:
        return False
    return handler(workspace=delivery.workspace, params=params, delivery=delivery)
