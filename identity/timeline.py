"""How an event reads on a timeline: a short human title and a one-line description.

Pure functions of the event's name, source, properties and context: no queries, so a page of
events costs nothing extra to describe. Unknown custom events get a humanized name.
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

RUNG_NAMES = {0: "device", 1: "visitor", 2: "email", 3: "phone", 4: "account"}
RUNG_BLURBS = {
    0: "Anonymous on first visit",
    1: "Same device across visits",
    2: "They gave an email",
    3: "SMS or WhatsApp adds a channel",
    4: "Booked, paid, or signed in",
}
CHANNEL_NAMES = {
    "whatsapp": "WhatsApp",
    "sms": "SMS",
    "voice": "Voice call",
    "call": "Call",
    "telegram": "Telegram",
    "messenger": "Messenger",
}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "CAD": "C$", "NZD": "NZ$", "JPY": "¥"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"}

# Agent actions (the chatbot's agents log through /api/track with "source": "agent").
# Sent by the install page's "Send a test event" (identity.views.InstallTestView).
INSTALL_TEST_EVENT = "install_test"

AGENT_TITLES = {
    "lead_qualified": "Agent qualified the lead",
    "high_intent_visitor": "High-intent visitor: intent score crossed 70",
    "lead_disqualified": "Agent disqualified the lead",
    "quote_sent": "Agent sent a quote",
    "booking_offered": "Agent offered booking slots",
    "booking_confirmed": "Agent confirmed the booking",
    "booking_taken": "Agent took a booking",
    "booking_cancelled": "Booking cancelled",
    "booking_rescheduled": "Booking moved to another time",
    "reminder_sent": "Agent sent a reminder",
    "review_requested": "Agent asked for a review",
    "onboarding_started": "Onboarding agent triggered",
    "follow_up_sent": "Agent sent a follow-up",
    "refund_handled": "Agent handled a refund",
    "handoff_to_human": "Agent handed over to a person",
    "handoff_requested": "Asked for a person: needs human eyes",
    "onboarding_sent": "Agent sent the onboarding message",
    "message_replied": "Agent replied",
    "summary_sent": "Weekly summary sent",
    "upgrade_nudge": "Agent nudged an upgrade",
}
PAYMENT_EVENTS = {
    "payment",
    "payment_succeeded",
    "payment_received",
    "charge.succeeded",
    "payment_intent.succeeded",
    "checkout.session.completed",
    "invoice.paid",
    "invoice_paid",
    "checkout_completed",
    "deposit_paid",
}
REFUND_EVENTS = {"refund", "charge.refunded", "refund_issued", "payment_refunded"}
EMAIL_TITLES = {
    "email_sent": "Email sent",
    "email_delivered": "Email delivered",
    "email_opened": "Opens email",
    "email_open": "Opens email",
    "open": "Opens email",
    "email_clicked": "Clicks a link in an email",
    "click": "Clicks a link in an email",
    "email_bounced": "Email bounced",
    "bounce": "Email bounced",
    "unsubscribe": "Unsubscribes from email",
    "email_unsubscribed": "Unsubscribes from email",
    "spamreport": "Marks email as spam",
    "email_replied": "Replies to an email",
}
BOOKING_EVENTS = {"booking_created", "invitee.created", "booked", "appointment_booked"}
CANCELLED_BOOKING_EVENTS = frozenset(("booking_cancelled", "invitee.canceled"))
# The Booking assistant's events (agents): a booking it took, one the person moved from their
# booking page (its `previous_booking_id` is the booking it replaces). Bookings in the workspace's
# own times are named `clarm-booking:<id>`; the ones it takes in Calendly carry Calendly's invitee.
ASSISTANT_BOOKED = "booking_taken"
BOOKING_MOVED = "booking_rescheduled"
OWN_BOOKING_PREFIX = "clarm-booking:"
# Events that name a booking still to come (unless cancelled or moved since).
UPCOMING_BOOKING_EVENTS = frozenset((*BOOKING_EVENTS, ASSISTANT_BOOKED, BOOKING_MOVED))
BOOKING_TIMELINE_EVENTS = UPCOMING_BOOKING_EVENTS | CANCELLED_BOOKING_EVENTS


def own_booking_id(pk: int) -> str:
    return f"{OWN_BOOKING_PREFIX}{pk}"


def own_booking_pk(booking_id: Any) -> int | None:
    """The assistant's booking an event's `booking_id` names (`clarm-booking:<id>`), if it names one."""
    text = str(booking_id or "")
    pk = text.removeprefix(OWN_BOOKING_PREFIX)
    return int(pk) if pk != text and pk.isdigit() else None


def booking_made(event: str, properties: Any) -> bool:
    """A booking made, counted once: any source's booking event, and the assistant's bookings in the
    workspace's own times (the ones it takes in Calendly come back as Calendly's `invitee.created`,
    which counts them; a move is not a new booking)."""
    if event in BOOKING_EVENTS:
        return True
    booking_id = properties.get("booking_id") if isinstance(properties, dict) else None
    return event == ASSISTANT_BOOKED and own_booking_pk(booking_id) is not None


@dataclass(frozen=True)
class EventText:
    title: str
    description: str


def humanize(name: str) -> str:
    """`quote_requested` / `quoteRequested` / `quote.requested` → "Quote requested"."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name or "")
    text = re.sub(r"[_.\-:/]+", " ", text).strip().lower()
    return text[:1].upper() + text[1:] if text else "Event"


def money(amount: Any, currency: Any = "USD", *, minor_units: bool = False) -> str:
    """`money(50, "usd")` → "$50.00"; `money(5000, "usd", minor_units=True)` → "$50.00"."""
    code = str(currency or "USD").upper()[:3]
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return ""
    if minor_units and code not in ZERO_DECIMAL_CURRENCIES:
        value = value / 100
    places = "1" if code in ZERO_DECIMAL_CURRENCIES else "0.01"
    text = f"{value.quantize(Decimal(places)):,}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}"


def _amount(props: dict[str, Any]) -> str:
    currency = props.get("currency") or "USD"
    for key in ("amount_minor", "amount_cents"):
        if props.get(key) is not None:
            return money(props[key], currency, minor_units=True)
    for key in ("amount", "value", "revenue", "total"):
        if props.get(key) is not None:
            return money(props[key], currency)
    return ""


def _path(url: Any) -> str:
    if not isinstance(url, str) or not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return parts.path or "/"
    return url.split("?")[0]


def _host(url: Any) -> str:
    if not isinstance(url, str) or not url:
        return ""
    host = urlsplit(url).netloc.lower()
    return host.removeprefix("www.")


def _str(value: Any, limit: int = 80) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(seconds: Any) -> str:
    try:
        total = int(float(seconds))
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(max(total, 0), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _attribution(props: dict[str, Any], context: dict[str, Any]) -> str:
    """ "From a Google search" / "From google.com" / "utm: google / cpc / spring"."""
    bits: list[str] = []
    raw = context.get("attribution")
    attribution: dict[str, Any] = raw if isinstance(raw, dict) else {}
    utm = {k: v for k, v in {**attribution, **props}.items() if isinstance(k, str) and k.startswith("utm_") and v}
    referrer = _host(context.get("referrer") or props.get("referrer"))
    if referrer:
        search = next((s for s in ("google", "bing", "duckduckgo", "yahoo") if s in referrer), "")
        bits.append(f"From a {search.capitalize()} search" if search else f"From {referrer}")
    if utm:
        order = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
        bits.append("UTM " + " / ".join(_str(utm[k], 40) for k in order if k in utm))
    click_ids = [k for k in ("gclid", "fbclid", "msclkid", "ttclid") if attribution.get(k) or props.get(k)]
    if click_ids:
        bits.append("click id " + ", ".join(click_ids))
    return " · ".join(bits)


def _channel(props: dict[str, Any]) -> str:
    raw = str(props.get("channel") or props.get("medium") or "").lower()
    return CHANNEL_NAMES.get(raw, raw.capitalize() if raw else "Message")


def _web(name: str, props: dict[str, Any], context: dict[str, Any]) -> EventText | None:
    path = _path(context.get("url") or props.get("url") or props.get("path"))
    if name in {"page_view", "page", "pageview", "$pageview"}:
        bits = [b for b in (_attribution(props, context),) if b]
        if props.get("time_on_page") is not None:
            bits.append(f"{_duration(props['time_on_page'])} on page")
        if props.get("scroll_depth") is not None:
            bits.append(f"scrolled {_str(props['scroll_depth'], 8)}%")
        return EventText(f"Views {path or 'a page'}", " · ".join(bits))
    if name == "click":
        target = _str(props.get("text") or props.get("label") or _path(props.get("href")) or path, 60)
        return EventText(f"Clicks {target}" if target else "Clicks", f"On {path}" if path else "")
    if name in {"form_submit", "identify"}:
        form = _str(props.get("form") or props.get("form_name") or "", 40)
        what = "Submits " + (f"{form} form" if form else "a form") if name == "form_submit" else "Identifies"
        captured = [k for k in ("email", "phone") if props.get(k)]
        if props.get("user_id"):
            return EventText("Signs in" if name == "identify" else f"{what}: account linked", "Account id given")
        if captured:
            detail = " and ".join(captured)
            return EventText(f"{what}: {detail} captured", f"On {path}" if path else "")
        return EventText(what, f"On {path}" if path else "")
    if name == "purchase":
        amount = _amount(props)
        order = _str(props.get("orderId") or props.get("order_id"), 40)
        return EventText(f"Purchase: {amount}" if amount else "Purchase", f"Order {order}" if order else "")
    if name == "goal_achieved":
        goal = _str(props.get("goal") or props.get("name"), 60)
        return EventText(f"Reaches goal: {goal}" if goal else "Reaches a goal", "")
    if name == "widget_opened":
        return EventText("Opens the chat widget", f"On {path}" if path else "")
    if name == "widget_closed":
        return EventText("Closes the chat widget", "")
    if name == "message_sent":
        return EventText("Sends a chat message", _str(props.get("text") or props.get("body"), 120))
    return None


def _channel_text(name: str, props: dict[str, Any]) -> EventText | None:
    channel = _channel(props)
    direction = str(props.get("direction") or "").lower()
    body = _str(props.get("body") or props.get("text"), 120)
    if "opt_in" in name or "opt_out" in name:
        return None  # consent keywords (STOP/START): the receiver's own title says what happened
    if name in {"call", "call_in", "call_received", "call_completed"}:
        duration = _duration(props.get("duration")) if props.get("duration") is not None else ""
        return EventText("Incoming call" if name == "call_received" else "Phone call", duration)
    if name in {"missed_call", "call_missed"}:
        return EventText("Missed call", "")
    if (
        name.endswith(("_in", "_received"))
        or name in {"message_in", "inbound_message", "message_received"}
        or direction == "inbound"
    ):
        return EventText(f"{channel} message in", body)
    if name.endswith("_out") or name in {"message_out", "outbound_message", "message_sent"} or direction == "outbound":
        return EventText(f"{channel} message out", body)
    if name in {"message_delivered", "delivered"}:
        return EventText(f"{channel} message delivered", "")
    return None


def _pixel(name: str, props: dict[str, Any]) -> EventText | None:
    if name in {"link_clicked", "link_click", "click"}:
        via = str(props.get("channel") or props.get("sent_via") or "").lower()
        label = _str(props.get("label") or props.get("campaign"), 50)
        where = {"sms": "SMS", "whatsapp": "WhatsApp", "email": "email"}.get(via, "")
        title = f"{label} clicked" if label else (f"Tracked {where} link clicked" if where else "Tracked link clicked")
        return EventText(title, _str(props.get("url") or props.get("destination"), 100))
    if name in {"pixel_open", "open"}:
        return EventText("Opens tracked email", "")
    return None


def event_text(*, event: str, source: str, properties: Any, context: Any) -> EventText:
    props: dict[str, Any] = properties if isinstance(properties, dict) else {}
    ctx: dict[str, Any] = context if isinstance(context, dict) else {}
    name = (event or "").strip()
    lowered = name.lower()
    text: EventText | None = None
    given = _str(props.get("summary") or props.get("description"), 200)

    if lowered in PAYMENT_EVENTS or (lowered == "purchase" and source == "webhook"):
        provider = _str(props.get("provider") or ("Stripe" if "." in lowered else ""), 20)
        amount = _amount(props)
        what = "deposit paid" if props.get("kind") == "deposit" or lowered == "deposit_paid" else "payment received"
        head = f"{provider.capitalize()} {what}" if provider else what.capitalize()
        text = EventText(f"{head}: {amount}" if amount else head, "")
    elif lowered in REFUND_EVENTS:
        amount = _amount(props)
        text = EventText(f"Refund: {amount}" if amount else "Refund", "")
    elif lowered in BOOKING_EVENTS:
        when = _str(props.get("start_time") or props.get("slot"), 40)
        text = EventText("Booking made", f"For {when}" if when else "")
    elif source == "agent":
        agent = _str(props.get("agent"), 40)
        title = AGENT_TITLES.get(lowered) or f"Agent: {humanize(name).lower()}"
        text = EventText(title, f"{agent.capitalize()} agent" if agent else "")
    elif source == "channel":
        text = _channel_text(lowered, props)
    elif source == "email":
        email_title = EMAIL_TITLES.get(lowered)
        subject = _str(props.get("subject"), 80)
        if email_title:
            opens = subject and "Opens" in email_title
            text = EventText(f"{email_title}: {subject}" if opens else email_title, subject)
    elif source == "pixel":
        text = _pixel(lowered, props)
    elif source == "ad" and lowered in {"page_view", "ad_click", "landing"}:
        campaign = _str(props.get("utm_campaign") or (ctx.get("attribution") or {}).get("utm_campaign"), 50)
        path = _path(ctx.get("url") or props.get("url"))
        title = f"Lands from an ad: {campaign}" if campaign else "Lands from an ad"
        text = EventText(title, " · ".join(b for b in (f"On {path}" if path else "", _attribution(props, ctx)) if b))
    if text is None and lowered == INSTALL_TEST_EVENT:
        text = EventText("Test event from the install page", "")
    if text is None and source in {"web", "ad", "channel"}:
        text = _web(lowered, props, ctx)
    if text is None:
        # Webhook receivers name what they recorded (e.g. "Calendly no-show"); else humanize the name.
        text = EventText(_str(props.get("title"), 80) or humanize(name), "")
    if given:
        text = EventText(text.title, given)
    return text


def relative_time(delta: datetime.timedelta) -> str:
    """Time since the first event: T+0, T+12s, T+1m, T+2h 5m, T+2d 3h."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "T+0"
    if seconds < 60:
        return f"T+{seconds}s"
    if seconds < 3600:
        return f"T+{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"T+{hours}h" + (f" {minutes}m" if minutes else "")
    days, rest = divmod(seconds, 86400)
    hours = rest // 3600
    return f"T+{days}d" + (f" {hours}h" if hours else "")


def rung_label(rung: int) -> str:
    return f"rung {rung}: {RUNG_NAMES.get(rung, '?')}"
