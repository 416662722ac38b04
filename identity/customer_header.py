"""The customer page's header: who this is and where they came from, in the owner's words.

Pure functions of rows the page already has (the person, their first event, their rollup facts,
their payment and booking events); the queries are in identity.selectors."""

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_datetime

from identity.channels import channel_label, channel_of, channels_from_text
from identity.models import Customer, PersonFacts
from identity.rollups.dimensions import campaign_of, page_path
from identity.rollups.dimensions import revenue_minor as event_revenue
from identity.timeline import BOOKING_MOVED, CANCELLED_BOOKING_EVENTS, UPCOMING_BOOKING_EVENTS, humanize, money
from tracking.models import Event

# Traits shown at once on the customer page; the rest behind "Show all", up to TRAITS_MAX (a person
# can carry up to 1,000 keys from identify calls: the rest is in their data export).
TRAITS_SHOWN = 8
TRAITS_MAX = 200
TRAIT_VALUE_CHARS = 300


@dataclass(frozen=True)
class FirstTouch:
    channel: str  # a key of identity.channels.CHANNEL_LABELS
    channel_label: str
    campaign: str
    landing_page: str
    referrer: str
    at: datetime.datetime


@dataclass(frozen=True)
class Booking:
    starts_at: datetime.datetime
    title: str


@dataclass(frozen=True)
class Trait:
    key: str
    label: str
    value: str


@dataclass
class CustomerHeader:
    first_touch: FirstTouch | None
    channels: list[tuple[str, str]] = field(default_factory=list)  # (key, label) in CHANNEL_LABELS order
    total_paid: str = ""  # "$50.00", or "" when nothing was paid
    next_booking: Booking | None = None
    last_activity: datetime.datetime | None = None
    intent_score: int | None = None
    company: str = ""
    traits: list[Trait] = field(default_factory=list)  # at most TRAITS_MAX, by label
    traits_total: int = 0

    @property
    def traits_shown(self) -> list[Trait]:
        return self.traits[:TRAITS_SHOWN]

    @property
    def traits_more(self) -> list[Trait]:
        return self.traits[TRAITS_SHOWN:]

    @property
    def traits_hidden(self) -> int:
        """Traits beyond TRAITS_MAX, not listed on the page."""
        return self.traits_total - len(self.traits)


def _referrer_host(context: dict[str, Any]) -> str:
    referrer = context.get("referrer")
    if not isinstance(referrer, str) or "//" not in referrer:
        return ""
    return referrer.split("//", 1)[1].split("/", 1)[0].lower().removeprefix("www.")[:120]


def first_touch_of(event: Event | None) -> FirstTouch | None:
    if event is None:
        return None
    context = event.context if isinstance(event.context, dict) else {}
    channel = channel_of(source=event.source, event=event.event, properties=event.properties)
    return FirstTouch(
        channel=channel,
        channel_label=channel_label(channel),
        campaign=campaign_of(context),
        landing_page=page_path(context.get("url")),
        referrer=_referrer_host(context),
        at=event.occurred_at,
    )


def total_paid(payments: list[Event]) -> str:
    """Payments less refunds (the dashboard's definition: identity.rollups.dimensions.revenue_minor)."""
    total = 0
    currency = "USD"
    for event in payments:
        total += event_revenue(event=event.event, properties=event.properties)
        props = event.properties if isinstance(event.properties, dict) else {}
        if isinstance(props.get("currency"), str) and props["currency"]:
            currency = props["currency"].upper()[:3]
    return money(total, currency, minor_units=True) if total else ""


def _booking_ref(properties: dict[str, Any]) -> str:
    return str(properties.get("invitee_uri") or properties.get("event_uri") or properties.get("booking_id") or "")


def next_booking(bookings: list[Event], now: datetime.datetime) -> Booking | None:
    """The earliest booking that starts after `now` and was not cancelled (or moved) since: from any
    source, the Booking assistant's included."""
    cancelled = set()
    for event in bookings:
        props = event.properties if isinstance(event.properties, dict) else {}
        if event.event in CANCELLED_BOOKING_EVENTS and _booking_ref(props):
            cancelled.add(_booking_ref(props))
        if event.event == BOOKING_MOVED and props.get("previous_booking_id"):
            cancelled.add(str(props["previous_booking_id"]))
    upcoming = []
    for event in bookings:
        props = event.properties if isinstance(event.properties, dict) else {}
        ref = _booking_ref(props)
        if event.event not in UPCOMING_BOOKING_EVENTS or (ref and ref in cancelled):
            continue
        start = parse_datetime(str(props.get("start_time") or props.get("slot") or ""))
        if start is None or start.tzinfo is None or start <= now:
            continue
        title = str(props.get("meeting") or props.get("title") or "Booking")[:80]
        upcoming.append(Booking(starts_at=start, title=title))
    return min(upcoming, key=lambda b: b.starts_at, default=None)


def trait_value(value: Any) -> str:
    """A trait as the page shows it: text as given, yes/no, numbers, objects and lists as compact JSON;
    cut to TRAIT_VALUE_CHARS. Escaping is the template's (never marked safe)."""
    if isinstance(value, bool):
        text = "Yes" if value else "No"
    elif value is None:
        text = "—"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= TRAIT_VALUE_CHARS else text[: TRAIT_VALUE_CHARS - 1] + "…"


def traits_of(traits: Any) -> list[Trait]:
    """The person's traits (Qualify's answers, identify calls' traits) with readable labels
    (`move_size` → "Move size", `planTier` → "Plan tier"), by label (PostgreSQL's jsonb keeps no key
    order), at most TRAITS_MAX."""
    if not isinstance(traits, dict):
        return []
    rows = [
        Trait(key=str(key)[:80], label=humanize(str(key))[:80], value=trait_value(value))
        for key, value in traits.items()
    ]
    return sorted(rows, key=lambda t: (t.label.lower(), t.key))[:TRAITS_MAX]


def customer_header(
    *,
    customer: Customer,
    first: Event | None,
    facts: PersonFacts | None,
    fallback_channels: list[str],
    payments: list[Event],
    bookings: list[Event],
    now: datetime.datetime,
) -> CustomerHeader:
    """`facts` (kept by the rollup processor) give the channels; until the processor has reached
    the person, `fallback_channels` (channel keys derived from the sources they used) stand in."""
    keys = channels_from_text(facts.channels) if facts and facts.channels else fallback_channels
    company = customer.company or str((customer.company_profile or {}).get("name") or "")
    return CustomerHeader(
        first_touch=first_touch_of(first),
        channels=[(key, channel_label(key)) for key in keys],
        total_paid=total_paid(payments),
        next_booking=next_booking(bookings, now),
        last_activity=customer.last_seen,
        intent_score=customer.intent_score,
        company=company[:200],
        traits=traits_of(customer.traits),
        traits_total=len(customer.traits) if isinstance(customer.traits, dict) else 0,
    )
