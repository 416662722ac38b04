"""The signed link a person gets with a booking the Booking assistant made: it opens their booking page
(agents.booking_views), where they can move or cancel it.

Salted for this use only (a preferences or unsubscribe token never opens it, nor the reverse), carries
ids only (workspace, booking), and expires: slots are offered up to 14 days ahead, so 45 days covers
the booking and a move or two."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from agents.models import Booking

BOOKING_LINK_SALT = "clarm.agents.booking"
BOOKING_LINK_MAX_AGE = datetime.timedelta(days=45)
MAX_TOKEN_CHARS = 300


class BookingLinkInvalid(Exception):
    """Malformed, tampered with, or minted for something else."""


class BookingLinkExpired(BookingLinkInvalid):
    """Signed by us, but older than BOOKING_LINK_MAX_AGE."""


@dataclass(frozen=True)
class BookingLink:
    workspace_id: int
    booking_id: int


def booking_token(booking: Booking) -> str:
    return signing.dumps({"w": booking.workspace_id, "b": booking.pk, "p": "booking"}, salt=BOOKING_LINK_SALT)


def booking_url(booking: Booking) -> str:
    """Absolute link to the booking's page, for the confirmation message."""
    return f"{settings.CLARM_PUBLIC_URL}{reverse('agents:booking_manage', kwargs={'token': booking_token(booking)})}"


def booking_token_read(token: str) -> BookingLink:
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise BookingLinkInvalid("empty or oversized token")
    try:
        data = signing.loads(token, salt=BOOKING_LINK_SALT, max_age=BOOKING_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise BookingLinkExpired("expired") from exc
    except signing.BadSignature as exc:
        raise BookingLinkInvalid("bad signature") from exc
    if not isinstance(data, dict) or data.get("p") != "booking":
        raise BookingLinkInvalid("wrong purpose")
    ids = data.get("w"), data.get("b")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
        raise BookingLinkInvalid("missing ids")
    return BookingLink(workspace_id=data["w"], booking_id=data["b"])
