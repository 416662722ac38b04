"""The times enrichment keeps inside JSON profiles: ISO 8601 in UTC with a Z."""

import datetime


def stamp(at: datetime.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def stamp_parse(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
