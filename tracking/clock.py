"""Client clocks: read ISO 8601 instants, correct a device's clock skew, never trust the future."""

import datetime
from typing import Any

from django.utils import timezone

# How far ahead of our clock an event may claim to be before it is clamped to the receive time.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)


class BadInstant(ValueError):
    pass


def instant_parse(value: object, *, field_name: str) -> datetime.datetime | None:
    """A timezone-aware datetime (naive strings are read as UTC), None for a missing value."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=datetime.UTC)
    if not isinstance(value, str):
        raise BadInstant(f"{field_name} must be an ISO 8601 string")
    text = value.strip()
    try:
        parsed = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadInstant(f"{field_name} is not a valid ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.UTC)
    try:
        # In UTC, as stored: an offset can push year 1 or 9999 out of what a datetime can hold.
        return parsed.astimezone(datetime.UTC)
    except OverflowError:
        raise BadInstant(f"{field_name} is out of range once its UTC offset is applied: {value[:40]!r}") from None


def occurred_at_compute(
    *, timestamp: datetime.datetime | None, sent_at: datetime.datetime | None, received_at: datetime.datetime
) -> tuple[datetime.datetime, dict[str, Any]]:
    """When the event happened on our clock, and what was done about the client's clock (for
    `context["clock"]`; empty when the client's time was taken as it was).

    With `sent_at` the device's skew is known: occurred_at = timestamp + (received_at - sent_at).
    Anything more than five minutes in our future is clamped to the receive time."""
    note: dict[str, Any] = {}
    if timestamp is None:
        return received_at, note
    occurred_at = timestamp
    if sent_at is not None:
        skew = received_at - sent_at
        # Under a second is network latency, not a wrong clock.
        if abs(skew) >= datetime.timedelta(seconds=1):
            note["skew_seconds"] = round(skew.total_seconds(), 3)
            note["client_timestamp"] = timestamp.isoformat()
            try:
                occurred_at = timestamp + skew
            except OverflowError:
                note["clamped"] = "skew correction out of range; set to the receive time"
                return received_at, note
    if occurred_at > received_at + FUTURE_TOLERANCE:
        note["clamped"] = "in the future; set to the receive time"
        note["client_timestamp"] = timestamp.isoformat()
        occurred_at = received_at
    return occurred_at, note
