"""Stripe webhooks: verify `Stripe-Signature` with the SDK, then route by event type."""

import datetime
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from integrations.events import event_record
from integrations.inbound import (
    Inbound,
    WebhookRejected,
    body_text,
    json_body,
    json_delivery_dispatch,
    signature_timestamp_check,
    signature_timestamp_parse,
    unusable,
)
from integrations.models import Connection, WebhookDelivery
from integrations.stripe.client import StripeSignatureError, signature_verify
from tracking.models import Source
from workspaces.models import Workspace

KEEP_HEADERS = ("Stripe-Signature",)
# 9999-12-31: the latest time a datetime holds.
_LATEST = 253402300799


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    header = request.headers.get("Stripe-Signature")
    if not header:
        raise WebhookRejected(400, "Missing Stripe-Signature header.")
    secret = connection.credentials.get("webhook_secret", "")
    if not secret:
        raise WebhookRejected(403, "No webhook signing secret is configured for Stripe.")
    payload = body_text(request)
    timestamp = dict(part.strip().partition("=")[::2] for part in header.split(",")).get("t")
    if timestamp is None:
        raise WebhookRejected(400, "Malformed Stripe-Signature header: expected t=<unix time>,v1=<signature>.")
    signature_timestamp_parse(timestamp, name="Stripe-Signature")
    try:
        signed_at = signature_verify(payload=payload, sig_header=header, secret=secret)
    except StripeSignatureError as exc:
        raise WebhookRejected(401, f"Stripe signature rejected: {exc}") from exc
    signature_timestamp_check(signed_at)
    event = json_body(payload)
    problem = _problem(event)
    if problem:
        return [unusable(payload, problem)]
    return [Inbound(provider_event_id=event["id"], event_type=event["type"], body=payload)]


def _problem(event: Any) -> str | None:
    """Why a verified body is not a Stripe event we can store, or None."""
    if not isinstance(event, dict):
        return "The body is not a Stripe event (expected a JSON object)."
    if not isinstance(event.get("id"), str) or not event["id"]:
        return "The Stripe event has no id."
    if not isinstance(event.get("type"), str) or not event["type"]:
        return "The Stripe event has no type."
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created < _LATEST:
        return "The Stripe event's 'created' is not a unix time."
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "The Stripe event has no data.object."
    return None


# --- mapping ------------------------------------------------------------------------------------


def _who(obj: dict[str, Any]) -> dict[str, Any]:
    """Identity claims found on a Stripe object: email/phone, Clarm visitor id, Stripe customer id."""
    details = obj.get("billing_details") or obj.get("customer_details") or {}
    metadata = obj.get("metadata") or {}
    email = details.get("email") or obj.get("customer_email") or obj.get("receipt_email") or obj.get("email")
    phone = details.get("phone") or obj.get("customer_phone") or obj.get("phone")
    charges = (obj.get("charges") or {}).get("data") or []
    if charges and not (email or phone):
        first = charges[0].get("billing_details") or {}
        email, phone = first.get("email"), first.get("phone")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if obj.get("object") == "customer":
        customer = obj.get("id")
    visitor_id = metadata.get("clarm_visitor_id") or obj.get("client_reference_id")
    return {
        "email": email,
        "phone": phone,
        "visitor_id": visitor_id,
        "user_id": metadata.get("clarm_user_id"),
        "external_ids": {"stripe": customer} if isinstance(customer, str) and customer else {},
    }


def _amount(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, int):
            currency = str(obj.get("currency") or "").lower()
            return {"amount": value / 100, "amount_minor": value, "currency": currency}
    return {}


def _occurred_at(event: dict[str, Any]) -> datetime.datetime:
    # The Stripe event's own creation time orders the timeline whatever the arrival order.
    return datetime.datetime.fromtimestamp(int(event["created"]), tz=datetime.UTC)


def _handler(name: str, title: str, *, amount_keys: tuple[str, ...] = (), paid: bool = False) -> Callable[..., None]:
    def handle(*, workspace: Workspace, event: dict[str, Any]) -> None:
        obj = event["data"]["object"]
        properties: dict[str, Any] = {
            "title": title,
            "provider": "stripe",
            "stripe_event": event["type"],
            "stripe_object_id": obj.get("id"),
            **_amount(obj, *amount_keys),
        }
        if obj.get("object") == "subscription":
            properties["subscription_status"] = obj.get("status")
            items = ((obj.get("items") or {}).get("data") or [{}])[0]
            plan = items.get("price") or items.get("plan") or {}
            if plan.get("id"):
                properties["plan"] = plan.get("nickname") or plan.get("id")
        event_record(
            workspace=workspace,
            provider="stripe",
            event=name,
            source=Source.WEBHOOK,
            message_id=f"stripe:{event['id']}",
            occurred_at=_occurred_at(event),
            properties=properties,
            account_signal=paid,
            **_who(obj),
        )

    return handle


HANDLERS: dict[str, Callable[..., None]] = {
    "payment_intent.succeeded": _handler(
        "payment_received", "Stripe payment received", amount_keys=("amount_received", "amount"), paid=True
    ),
    "checkout.session.completed": _handler(
        "checkout_completed", "Stripe checkout completed", amount_keys=("amount_total",), paid=True
    ),
    "invoice.paid": _handler("invoice_paid", "Stripe invoice paid", amount_keys=("amount_paid",), paid=True),
    "charge.refunded": _handler("payment_refunded", "Stripe payment refunded", amount_keys=("amount_refunded",)),
    "customer.subscription.created": _handler("subscription_started", "Stripe subscription started"),
    "customer.subscription.updated": _handler("subscription_updated", "Stripe subscription updated"),
    "customer.subscription.deleted": _handler("subscription_cancelled", "Stripe subscription cancelled"),
}


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    return json_delivery_dispatch(delivery, HANDLERS, type_key="type", payload_arg="event")
