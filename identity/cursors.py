"""Opaque keyset cursors: a (datetime, id) pair as URL-safe text, so a page costs the same at any depth."""

import base64
import binascii
import datetime

from django.utils.dateparse import parse_datetime


class BadCursor(ValueError):
    """The cursor was not made by us (or was cut short)."""


def cursor_encode(at: datetime.datetime, pk: int) -> str:
    raw = f"{at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(text: str) -> tuple[datetime.datetime, int]:
    if not text or len(text) > 200:
        raise BadCursor("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        stamp, _, pk_text = raw.partition("|")
        at = parse_datetime(stamp)
        pk = int(pk_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("cursor is not one this API returned") from exc
    if at is None or at.tzinfo is None or pk < 1:
        raise BadCursor("cursor is not one this API returned")
    try:
        # An offset can push year 1 or 9999 out of range once in UTC (as the database compares it).
        return at.astimezone(datetime.UTC), pk
    except OverflowError as exc:
        raise BadCursor("cursor is not one this API returned") from exc
