"""When a weekly summary is due and which seven days it covers, in the workspace's own time zone.

A summary is named by the ISO week of the Friday it is sent on ("2025-W11") and covers the seven
whole local days before that Friday: Friday to Thursday. Whole days, because its figures are read
from the daily rollups (identity.rollups, counted per local day), and finished days, so the week
it compares with is as complete as itself. Local midnights are built with zoneinfo from calendar
dates, never by adding hours in UTC, so a week that crosses a DST change is 167 or 169 hours.
The page's "last seven days" are today (so far) and the six days before, as on the dashboard.
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
DAYS = 7

UTC = datetime.UTC


@dataclass(frozen=True)
class SummaryPeriod:
    """Seven local days, first_day to last_day inclusive, in the zone the summary is read in."""

    first_day: datetime.date
    last_day: datetime.date
    zone: zoneinfo.ZoneInfo

    @property
    def start(self) -> datetime.datetime:
        """The first day's local midnight, in UTC."""
        return _local(self.first_day, datetime.time.min, self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime.datetime:
        """The local midnight after the last day, in UTC (excluded)."""
        return _local(self.last_day + datetime.timedelta(days=1), datetime.time.min, self.zone).astimezone(UTC)

    @property
    def start_local(self) -> datetime.datetime:
        return self.start.astimezone(self.zone)

    @property
    def end_local(self) -> datetime.datetime:
        return self.end.astimezone(self.zone)

    @property
    def previous(self) -> "SummaryPeriod":
        return period_to_day(self.first_day - datetime.timedelta(days=1), self.zone)

    def days(self) -> list[datetime.date]:
        return [self.first_day + datetime.timedelta(days=n) for n in range(DAYS)]


def _local(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, at, tzinfo=zone)


def period_to_day(last_day: datetime.date, zone: zoneinfo.ZoneInfo) -> SummaryPeriod:
    """The seven local days that end with `last_day` (included)."""
    return SummaryPeriod(first_day=last_day - datetime.timedelta(days=DAYS - 1), last_day=last_day, zone=zone)


def period_until(now: datetime.datetime, zone: zoneinfo.ZoneInfo) -> SummaryPeriod:
    """The last seven days until `now`: its local day (so far) and the six before."""
    return period_to_day(now.astimezone(zone).date(), zone)


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
    """Friday to Thursday before the Friday of the ISO week `key`."""
    year, week = week_key_parse(key)
    friday = datetime.date.fromisocalendar(year, week, SEND_WEEKDAY + 1)
    return period_to_day(friday - datetime.timedelta(days=1), zone)


def week_label(key: str) -> str:
    """ "Fri 7 – Thu 13 Mar 2025" for the week a summary key covers (the dates, not the ISO code)."""
    period = period_for_week(key, zoneinfo.ZoneInfo("UTC"))
    return days_label(period.first_day, period.last_day)


def days_label(first: datetime.date, last: datetime.date) -> str:
    if first.year != last.year:
        return f"{first:%a %-d %b %Y} – {last:%a %-d %b %Y}"
    if first.month != last.month:
        return f"{first:%a %-d %b} – {last:%a %-d %b %Y}"
    return f"{first:%a %-d} – {last:%a %-d %b %Y}"


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
