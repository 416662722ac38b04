"""What every provider's webhooks module provides, and the shared signature helpers.

A provider module (`integrations/<provider>/webhooks.py`) exposes:
- `verify(*, request, connection) -> list[Inbound]`: checks the provider's signature on the raw body
  and splits it into deliveries (one per provider event id); raises `WebhookRejected` otherwise.
- `process(*, delivery, connection) -> bool`: maps one stored delivery to events through its
  `HANDLERS` dict; False when the event type is not one we use (the delivery is marked ignored).
- `KEEP_HEADERS`: the request headers worth keeping with the raw delivery.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from django.http import HttpRequest

from integrations.models import WebhookDelivery

# Headers kept for every provider (no cookies, no authorization).
COMMON_HEADERS = ("Content-Type", "User-Agent")


@dataclass(frozen=True)
class Inbound:
    provider_event_id: str
    event_type: str
    body: str


class WebhookRejected(Exception):
    """A request we refuse before storing anything; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def provider_module(provider: str) -> ModuleType:
    return import_module(f"integrations.{provider}.webhooks")


def headers_filtered(request: HttpRequest, keep: tuple[str, ...]) -> dict[str, str]:
    names = {h.lower() for h in (*COMMON_HEADERS, *keep)}
    return {k: v for k, v in request.headers.items() if k.lower() in names}


def body_text(request: HttpRequest) -> str:
    try:
        return request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(400, "The body is not UTF-8.") from exc


def timestamped_hmac_verify(
    *, header: str | None, body: str, secret: str, tolerance: int, name: str, now: float | None = None
) -> None:
    """Verify a `t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>` header (Stripe-style; used by
    Calendly and the generic webhook). Several v1 values are allowed (secret rotation)."""
    if not header:
        raise WebhookRejected(400, f"Missing {name} header.")
    if not secret:
        raise WebhookRejected(403, "No signing secret is configured for this connection.")
    timestamp = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
        raise WebhookRejected(400, f"Malformed {name} header: expected t=<unix time>,v1=<signature>.")
    expected = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest().encode()
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may carry any.
    if not any(hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures):
        raise WebhookRejected(401, "Signature does not match the body.")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookRejected(401, f"Signature timestamp is outside the {tolerance // 60}-minute tolerance.")


def timestamped_signed_body(*, request: HttpRequest, header: str, secret: str, tolerance: int) -> str:
    """The request body as text, once the `t=…,v1=…` signature in the `header` header is verified."""
    body = body_text(request)
    timestamped_hmac_verify(
        header=request.headers.get(header), body=body, secret=secret, tolerance=tolerance, name=header
    )
    return body


def json_delivery_dispatch(
    delivery: WebhookDelivery,
    handlers: Mapping[str, Callable[..., None]],
    /,
    *,
    type_key: str,
    payload_arg: str,
    **extra: object,
) -> bool:
    """`process()` for a provider whose delivery is one JSON object naming its type in `type_key`: call
    `handlers[type](workspace=…, <payload_arg>=the object, **extra)`; False when the type is not handled."""
    payload = json.loads(delivery.body)
    handler = handlers.get(str(payload.get(type_key)))
    if handler is None:
        return False
    handler(workspace=delivery.workspace, **{payload_arg: payload}, **extra)
    return True


def timestamped_hmac_header(*, body: str, secret: str, timestamp: int | None = None) -> str:
    """The header a sender computes (documented for the generic webhook; used by tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={sig}"
