"""What one event counts towards, and a person's first touch: pure functions of stored fields."""

import datetime
import math
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from identity.models import RollupDimension
from identity.timeline import BOOKING_EVENTS, CANCELLED_BOOKING_EVENTS, booking_made, event_text

PAGE_EVENTS = frozenset(("page_view", "page", "pageview", "$pageview"))
# Stripe's payment_intent.succeeded is recorded for every checkout and paid invoice, so it alone is
# counted as revenue (checkout_completed and invoice_paid would count the same money twice).
PAYMENT_EVENTS = frozenset(("payment_received",))
REFUND_EVENTS = frozenset(("payment_refunded",))
MOBILE_OS = frozenset(("iOS", "Android", "iPadOS"))
MAX_KEY = 200
# Where a person's last event counts as a message (in or out) rather than a step they took.
MESSAGE_SOURCES = frozenset(("channel", "email", "pixel"))
STEP_KINDS = {"page": "Page", "message": "Message", "step": "Step"}
# What a person did themselves by email or phone (the busiest hours count these, not what was sent).
PERSON_EMAIL_EVENTS = frozenset(("email_opened", "email_open", "open", "email_clicked", "click", "email_replied"))
PERSON_CHANNEL_EVENTS = frozenset(
    ("message_in", "inbound_message", "call", "call_in", "call_received", "missed_call", "call_missed")
)


def local_date(at: datetime.datetime, tz: zoneinfo.ZoneInfo) -> datetime.date:
    return at.astimezone(tz).date()


def page_path(url: Any) -> str:
    if not isinstance(url, str) or not url:
        return ""
    try:
        path = urlsplit(url).path or "/"
    except ValueError:
        return ""
    return path[:MAX_KEY]


def device_class(context: dict[str, Any]) -> str:
    ua = context.get("ua")
    if not isinstance(ua, dict) or not ua:
        return ""
    if ua.get("os") in MOBILE_OS:
        return "Mobile"
    return "Desktop"


def person_acted(*, event: str, source: str, properties: Any) -> bool:
    """Whether the person did this themselves (a visit, a message in, a call, a click, an open, a
    booking, a payment), not the business or its agents (a message out, a delivery receipt)."""
    if source in ("web", "ad", "pixel"):
        return True
    if source == "email":
        return event in PERSON_EMAIL_EVENTS
    if source == "channel":
        props = properties if isinstance(properties, dict) else {}
        direction = str(props.get("direction") or "").lower()
        if direction in ("in", "inbound", "out", "outbound"):
            return direction in ("in", "inbound")
        return event.endswith(("_received", "_in")) or event in PERSON_CHANNEL_EVENTS
    if source == "webhook":
        return event in BOOKING_EVENTS or event in PAYMENT_EVENTS
    return False


def event_counts(
    *, event: str, source: str, properties: Any, context: Any, is_bot: bool, hour: int
) -> list[tuple[str, str, int]]:
    """(dimension, key, amount) triples one event adds to its day (`hour`: its local hour); bots count
    for nothing. The amount is 1, or minor units for payments and refunds."""
    if is_bot:
        return []
    counts: list[tuple[str, str, int]] = []
    if person_acted(event=event, source=source, properties=properties):
        counts.append((RollupDimension.HOUR.value, f"{hour:02d}", 1))
    if booking_made(event, properties):
        counts.append((RollupDimension.BOOKINGS.value, "made", 1))
    elif event in CANCELLED_BOOKING_EVENTS:
        counts.append((RollupDimension.BOOKINGS.value, "cancelled", 1))
    amount = revenue_minor(event=event, properties=properties)
    if amount:
        currency = str(properties.get("currency") or "").upper()[:3] or "USD"
        kind = "paid" if amount > 0 else "refunded"
        counts.append((RollupDimension.REVENUE.value, f"{kind}:{currency}", abs(amount)))
    if event not in PAGE_EVENTS or not isinstance(context, dict):
        return counts
    path = page_path(context.get("url"))
    if path:
        counts.append((RollupDimension.PAGE.value, path, 1))
    country = context.get("country")
    if isinstance(country, str) and country:
        counts.append((RollupDimension.COUNTRY.value, country[:MAX_KEY], 1))
    device = device_class(context)
    if device:
        counts.append((RollupDimension.DEVICE.value, device, 1))
    return counts


def campaign_of(context: Any) -> str:
    if not isinstance(context, dict):
        return ""
    attribution = context.get("attribution")
    if isinstance(attribution, dict):
        value = attribution.get("utm_campaign")
        if isinstance(value, str):
            return value[:MAX_KEY]
    return ""


def revenue_minor(*, event: str, properties: Any) -> int:
    """Signed minor units a payment (or refund) event moves."""
    if (event not in PAYMENT_EVENTS and event not in REFUND_EVENTS) or not isinstance(properties, dict):
        return 0
    amount = properties.get("amount_minor")
    if not isinstance(amount, int) or isinstance(amount, bool):
        return 0
    return -amount if event in REFUND_EVENTS else amount


def wait_bucket(seconds: float) -> int:
    """log2 bucket of a wait: bucket b holds waits of 2**b - 1 to 2**(b+1) - 1 seconds."""
    return int(math.log2(max(0.0, seconds) + 1))


def bucket_middle(bucket: int) -> float:
    """A bucket's geometric middle in seconds: a median read from buckets is within a factor √2."""
    return 2 ** (bucket + 0.5) - 1


def last_step(*, event: str, source: str, properties: Any, context: Any) -> str:
    """Where a person stopped, in words and without personal data: "page:/pricing",
    "message:WhatsApp message in", "step:Submits quote form" (a title's detail after ": ", such as an
    email subject or an amount, is left out)."""
    if event in PAGE_EVENTS and source in ("web", "ad"):
        path = page_path(context.get("url")) if isinstance(context, dict) else ""
        return f"page:{path or '/'}"[:MAX_KEY]
    title = event_text(event=event, source=source, properties=properties, context=context).title
    kind = "message" if source in MESSAGE_SOURCES else "step"
    return f"{kind}:{title.split(': ', 1)[0]}"[:MAX_KEY]


def step_parts(step: str) -> tuple[str, str]:
    """("Page", "/pricing") from "page:/pricing"; an unknown kind reads as a step."""
    kind, _, label = step.partition(":")
    if kind not in STEP_KINDS:
        return STEP_KINDS["step"], step
    return STEP_KINDS[kind], label
