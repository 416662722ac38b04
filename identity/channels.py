"""Channels in the owner's words: which of Web, Ad, Email, SMS, WhatsApp, Call, Stripe, Calendly,
Agent (or another app) an event came through, from its stored source, name and properties."""

from typing import Any

CHANNEL_LABELS = {
    "web": "Web",
    "ad": "Ad",
    "email": "Email",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "call": "Call",
    "stripe": "Stripe",
    "calendly": "Calendly",
    "agent": "Agent",
    "app": "Other app",
}
# Which raw sources a channel's events can have (the customers list filters on the source column).
CHANNEL_SOURCES = {
    "web": ("web",),
    "ad": ("ad",),
    "email": ("email", "pixel"),
    "sms": ("channel", "pixel"),
    "whatsapp": ("channel", "pixel"),
    "call": ("channel",),
    "stripe": ("webhook",),
    "calendly": ("webhook",),
    "agent": ("agent",),
    "app": ("webhook",),
}
# A stored source in words, where the event itself is not at hand (filters, the customer's sources).
SOURCE_WORDS = {
    "web": "Web",
    "ad": "Ad",
    "email": "Email",
    "channel": "SMS, WhatsApp or call",
    "agent": "Agent",
    "webhook": "Payments, bookings and apps",
    "pixel": "Tracked links and opens",
}
_MESSAGING = {"sms": "sms", "whatsapp": "whatsapp", "voice": "call", "call": "call"}
BOOKING_PREFIXES = ("booking_", "invitee_")


def channel_of(*, source: str, event: str = "", properties: Any = None) -> str:
    """The channel key (a key of CHANNEL_LABELS) of one event."""
    props = properties if isinstance(properties, dict) else {}
    via = str(props.get("channel") or props.get("sent_via") or props.get("medium") or "").lower()
    if source in ("web", "ad", "agent", "email"):
        return source
    if source == "pixel":
        return _MESSAGING.get(via, "email") if via != "voice" else "email"
    if source == "channel":
        if "call" in event:
            return "call"
        return _MESSAGING.get(via, "sms")
    if source == "webhook":
        provider = str(props.get("provider") or "").lower()
        if provider == "stripe" or event.startswith(("payment_", "checkout_", "invoice_")):
            return "stripe"
        if provider == "calendly" or event.startswith(BOOKING_PREFIXES):
            return "calendly"
        if provider == "sendgrid":
            return "email"
        return "app"
    return "app"


def channel_label(key: str) -> str:
    return CHANNEL_LABELS.get(key, key.capitalize() or "Unknown")


def channels_text(keys: set[str]) -> str:
    """Stored form of the channels a person used: ",email,web," (in CHANNEL_LABELS order), so one
    channel is matched with `contains=",web,"` on any database."""
    ordered = [key for key in CHANNEL_LABELS if key in keys]
    return f",{','.join(ordered)}," if ordered else ""


def channels_from_text(text: str) -> list[str]:
    return [key for key in text.split(",") if key]
