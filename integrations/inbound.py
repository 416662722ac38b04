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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from django.http import HttpRequest

from integrations.models import WebhookDelivery

# Headers kept for every provider (no cookies, no authorization).
COMMON_HEADERS = ("Content-Type", "User-Agent")
# The one replay window of every provider that signs a timestamp (Stripe, SendGrid, Calendly, the
# generic webhook): a signature more than this far from our clock, in the past or the future, is refused.
SIGNATURE_TOLERANCE_SECONDS = 300
# A unix time in seconds has 10 digits until the year 2286; more is not a timestamp.
_MAX_TIMESTAMP_DIGITS = 12
# Objects and arrays inside one provider payload: deeper than this is not read.
MAX_PAYLOAD_DEPTH = 64
NOT_JSON = f"The body is not JSON (or nests deeper than {MAX_PAYLOAD_DEPTH} levels)."
# NUL cannot be stored in PostgreSQL text or jsonb; a lone surrogate cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Inbound:
    """One event of a verified delivery. `error` set: the body was verified but cannot be used; it is
    stored as a rejected delivery with this reason (the owner sees it, staff can replay it)."""

    provider_event_id: str
    event_type: str
    body: str
    error: str = ""


def unusable(body: str, error: str, *, provider_event_id: str = "", event_type: str = "") -> Inbound:
    """A verified body (or one event of it) we cannot use: stored as rejected with `error`."""
    return Inbound(provider_event_id=provider_event_id, event_type=event_type, body=body, error=error)


class DeliveryUnusable(Exception):
    """Processing found the stored body unusable (a shape we cannot map): rejected, not retried."""


class DeliveryNotReady(Exception):
    """Processing must wait for something still to arrive (e.g. a Calendly booking): retried."""


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


def timestamped_hmac_verify(*, header: str | None, body: str, secret: str, name: str, now: float | None = None) -> None:
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
    if timestamp is None or not signatures:
        raise WebhookRejected(400, f"Malformed {name} header: expected t=<unix time>,v1=<signature>.")
    seconds = signature_timestamp_parse(timestamp, name=name)
    expected = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest().encode()
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may carry any.
    if not any(hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures):
        raise WebhookRejected(401, "Signature does not match the body.")
    signature_timestamp_check(seconds, now=now)


def signature_timestamp_parse(value: str, *, name: str) -> int:
    """A signed unix time (seconds) from a header, or 400 naming the header."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookRejected(400, f"Malformed {name} header: the timestamp must be a unix time in seconds.")
    return int(value)


def signature_timestamp_check(seconds: int, *, now: float | None = None) -> None:
    """The one replay window of every provider: 401 when the signed time is more than
    SIGNATURE_TOLERANCE_SECONDS away from our clock, in the past or in the future."""
    now = time.time() if now is None else now
    if abs(now - seconds) > SIGNATURE_TOLERANCE_SECONDS:
        when = "in the future" if seconds > now else "too old"
        raise WebhookRejected(
            401, f"Signature timestamp is {when}: outside the {SIGNATURE_TOLERANCE_SECONDS} s tolerance of our clock."
        )


def timestamped_signed_body(*, request: HttpRequest, header: str, secret: str) -> str:
    """The request body as text, once the `t=…,v1=…` signature in the `header` header is verified."""
    body = body_text(request)
    timestamped_hmac_verify(header=request.headers.get(header), body=body, secret=secret, name=header)
    return body


def storable(value: Any) -> Any:
    """A decoded payload with the characters PostgreSQL cannot store (NUL, lone surrogates) replaced
    by U+FFFD in every string and key: a provider's text is kept, minus what cannot be kept."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def json_body(payload: str) -> Any:
    """The JSON of a verified body, or None when it is not JSON we can read: not JSON, an integer longer
    than Python converts, or nested deeper than MAX_PAYLOAD_DEPTH (no provider's event is; deeper, the
    mapping would run out of stack)."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return None if _deeper_than(data, MAX_PAYLOAD_DEPTH) else data


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            if depth > limit:
                return True
            stack.extend((item, depth + 1) for item in (current.values() if isinstance(current, dict) else current))
    return False


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
    payload = storable(json.loads(delivery.body))
    if not isinstance(payload, dict):
        raise DeliveryUnusable("The body is not a JSON object.")
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
