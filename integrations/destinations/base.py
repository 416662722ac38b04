"""What every destination sender shares: the provider's answer, the item it sends, hashing."""

import email.utils
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from django.utils import timezone

from identity.models import Customer
from integrations.destinations.models import Destination, DestinationDelivery
from tracking.models import Event

TIMEOUT_SECONDS = 10.0
ANSWER_EXCERPT = 2000
# Answers that are worth trying again later (with backoff); every other 4xx is final.
RETRYABLE_STATUS = frozenset((408, 425, 429))


@dataclass
class Answer:
    """The provider's answer to one delivery (or to the batch it was part of)."""

    status_code: int | None  # None: no answer at all (timeout, connection refused)
    body: str = ""
    retry_after: float | None = None
    remote_id: str = ""
    final: bool = False  # no retry whatever the status (a refused URL, bad config)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.ok or self.final:
            return False
        return self.status_code is None or self.status_code in RETRYABLE_STATUS or self.status_code >= 500

    def text(self) -> str:
        head = f"HTTP {self.status_code}" if self.status_code is not None else "no answer"
        return f"{head}: {self.body}"[:ANSWER_EXCERPT] if self.body else head


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or timezone.now())).total_seconds())


def answer_from_response(response: httpx.Response, *, remote_id: str = "") -> Answer:
    return Answer(
        status_code=response.status_code,
        body=response.text[:ANSWER_EXCERPT],
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        remote_id=remote_id,
    )


def answer_from_error(exc: Exception) -> Answer:
    return Answer(status_code=None, body=f"{type(exc).__name__}: {exc}"[:ANSWER_EXCERPT])


def response_json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Item:
    """One delivery with what it is about, loaded once for the whole batch."""

    delivery: DestinationDelivery
    event: Event | None
    customer: Customer | None
    # Landing attribution of the person (click ids, first-touch UTM), see destinations.context.
    attribution: dict[str, Any] = field(default_factory=dict)
    first_touch: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    """A provider: how many deliveries one request may carry, and how to send them."""

    batch_size: int

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        """One answer per item, in order."""
        ...


class ConfigError(Exception):
    """The destination's config cannot work (missing key): a final failure, named."""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email_normalized(value: str | None) -> str:
    return (value or "").strip().lower()


def phone_digits(value: str | None) -> str:
    """E.164 without '+' (what Meta hashes)."""
    return re.sub(r"\D", "", value or "")


def name_split(name: str) -> tuple[str, str]:
    parts = (name or "").strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def amount_of(event: Event | None) -> tuple[float | None, str]:
    """Value and currency of a purchase-like event (Clarm `purchase`, Stripe `payment_received`, …)."""
    if event is None:
        return None, ""
    props = event.properties or {}
    value = props.get("amount", props.get("value", props.get("revenue")))
    currency = str(props.get("currency") or "").upper()
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    return number, currency
