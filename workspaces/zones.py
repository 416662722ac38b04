"""The workspace's time zone: every workspace page, the public preferences page and the weekly
summary show times in it."""

import zoneinfo


def workspace_zone(name: str) -> zoneinfo.ZoneInfo:
    """The workspace's zone; an unknown name (a zone removed from tzdata) falls back to UTC."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")
