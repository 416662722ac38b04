"""When a weekly summary is due and which seven days it covers, in the workspace's own time zone.

A summary is named by the ISO week of the Friday it is sent on ("2025-W11") and covers the seven
days that end at that Friday 17:00 local time. Local times are built with zoneinfo from calendar
dates, never by adding hours in UTC, so a week that crosses a DST change is still 7 local days.
"""

import datetime
import re
import zoneinfo
from dataclasses import dataclass

from workspaces.zones import workspace_zone

__all__ = ["workspace_zone"]  # re-exported: the summary's callers read the zone from here too

SEND_WEEKDAY = 4  # Friday (Monday is 0)
SEND_TIME = datetime.time(17, 0)
WEEK_KEY_RE = re.compile(r"^([0-9]{4})-W([0-9]{2})\Z")

UTC = datetime.UTC


@dataclass(frozen=True)
class SummaryPeriod:
    """[start, end) in UTC, and the zone the summary is read in."""

    start: datetime.datetime
    end: datetime.datetime
    zone: zoneinfo.ZoneInfo

    @property
    def start_local(self) -> datetime.datetime:
        return self.start.astimezone(self.zone)

    @property
    def end_local(self) -> datetime.datetime:
        return self.end.astimezone(self.zone)

    @property
    def previous(self) -> "SummaryPeriod":
        return period_ending(self.start, self.zone)


def _local(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, at, tzinfo=zone)


def period_ending(end: datetime.datetime, zone: zoneinfo.ZoneInfo) -> SummaryPeriod:
    """The seven local days before `end`: same wall-clock time, seven calendar days earlier."""
    end_local = end.astimezone(zone)
    start_local = _local(end_local.date() - datetime.timedelta(days=7), end_local.time(), zone)
    return SummaryPeriod(start=start_local.astimezone(UTC), end=end_local.astimezone(UTC), zone=zone)


def week_key(day: datetime.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_key_parse(key: str) -> tuple[int, int]:
    """(ISO year, ISO week) of "YYYY-Www"; ValueError naming the problem otherwise."""
    match = WEEK_KEY_RE.match(key or "")
    if not match:
        raise ValueError(f"{key!r} is not a week like 2025-W11.")
    year, week = int(match[1]), int(match[2])
    if not 1970 <= year <= 9998:
        # Summaries exist from the Unix epoch on; a week's period must stay inside what a datetime holds.
        raise ValueError(f"{key!r}: the year must be from 1970 to 9998.")
    try:
        datetime.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{key!r}: {year} has no ISO week {week}.") from None
    return year, week


def send_moment(key: str, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """Friday 17:00 local time of the ISO week `key`, in UTC."""
    year, week = week_key_parse(key)
    friday = datetime.date.fromisocalendar(year, week, SEND_WEEKDAY + 1)
    return _local(friday, SEND_TIME, zone).astimezone(UTC)


def period_for_week(key: str, zone: zoneinfo.ZoneInfo) -> SummaryPeriod:
    return period_ending(send_moment(key, zone), zone)


def due_week_key(*, zone: zoneinfo.ZoneInfo, now: datetime.datetime) -> str | None:
    """The week whose summary a tick at `now` should send: only on Friday from 17:00 local time
    (a late tick at 17:40 still counts), else None."""
    local = now.astimezone(zone)
    if local.weekday() == SEND_WEEKDAY and local.time() >= SEND_TIME:
        return week_key(local.date())
    return None


def latest_week_key(*, zone: zoneinfo.ZoneInfo, now: datetime.datetime) -> str:
    """The most recent week whose Friday 17:00 local time is not in the future."""
    local = now.astimezone(zone)
    friday = local.date() - datetime.timedelta(days=(local.weekday() - SEND_WEEKDAY) % 7)
    if friday == local.date() and local.time() < SEND_TIME:
        friday -= datetime.timedelta(days=7)
    return week_key(friday)
