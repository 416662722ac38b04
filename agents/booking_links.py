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
from identity.privacy.tokens import TokenExpired, TokenInvalid, signed_int, signed_load

BOOKING_LINK_SALT = "clarm.agents.booking"
BOOKING_LINK_MAX_AGE = datetime.timedelta(days=45)


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
    try:
        data = signed_load(token, salt=BOOKING_LINK_SALT, max_age=BOOKING_LINK_MAX_AGE, purposes=("booking",))
        return BookingLink(workspace_id=signed_int(data, "w"), booking_id=signed_int(data, "b"))
    except TokenExpired as exc:
        raise BookingLinkExpired(str(exc)) from exc
    except TokenInvalid as exc:
        raise BookingLinkInvalid(str(exc)) from exc
