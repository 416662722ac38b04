"""The Booking assistant's open times: the workspace's weekly availability ("Mon-Fri 09:00-17:00",
one line per rule, in the workspace's time zone) cut into slots, minus the bookings already taken
(the assistant's own and every `booking_created` on the timeline that is not cancelled). Pure
parsing and slot arithmetic here; the reads are `taken_starts`."""

import datetime
import re
from dataclasses import dataclass
from typing import Any

from django.utils.dateparse import parse_datetime

from agents.models import Booking, BookingStatus
from tracking.models import Event
from workspaces.models import Workspace

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 14
SLOTS_OFFERED = 3
# Bookings made elsewhere are read from the timeline's `booking_created` events received this far back.
BOOKINGS_LOOKBACK = datetime.timedelta(days=90)
_RULE = re.compile(r"^\s*([A-Za-z ,\-]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    start: datetime.time
    end: datetime.time


@dataclass(frozen=True)
class Slot:
    start: datetime.datetime  # UTC
    end: datetime.datetime
    url: str = ""  # Calendly's scheduling page of this time, when it came from Calendly

    def as_state(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "url": self.url}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> "Slot":
        return cls(
            start=datetime.datetime.fromisoformat(data["start"]),
            end=datetime.datetime.fromisoformat(data["end"]),
            url=data.get("url", ""),
        )


def _days(text: str, number: int) -> list[int]:
    days: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS):
            raise ValueError(f"availability, line {number}: unknown day “{part}” (use Mon, Tue, … Sun).")
        a = DAYS.index(first[:3])
        b = DAYS.index(last[:3]) if last else a
        days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def availability_parse(text: str) -> list[Window]:
    """“Mon-Fri 09:00-17:00” lines → windows; raises ValueError naming the bad line."""
    windows: list[Window] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = _RULE.match(line)
        if match is None:
            raise ValueError(f"availability, line {number}: write days and hours like “Mon-Fri 09:00-17:00”.")
        h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
        if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60):
            raise ValueError(f"availability, line {number}: hours are 00:00 to 24:00.")
        start = datetime.time(h1, m1)
        end = datetime.time.max if (h2, m2) == (24, 0) else datetime.time(h2, m2)
        if end <= start:
            raise ValueError(f"availability, line {number}: the end is not after the start.")
        windows.extend(Window(day, start, end) for day in _days(match.group(1), number))
    return windows


def slots_from_windows(
    windows: list[Window],
    *,
    zone: Any,
    now: datetime.datetime,
    minutes: int,
    lead: datetime.timedelta,
    taken: set[datetime.datetime],
    count: int = SLOTS_OFFERED,
) -> list[Slot]:
    """Open slots of the next HORIZON_DAYS days, spread over days (`slots_spread`). Slots start at the
    window's start, every `minutes`, in the workspace's wall clock (a day with a DST change keeps
    its local hours)."""
    earliest = now + lead
    length = datetime.timedelta(minutes=minutes)
    today = now.astimezone(zone).date()
    candidates: list[Slot] = []
    for offset in range(HORIZON_DAYS + 1):
        day = today + datetime.timedelta(days=offset)
        for window in sorted((w for w in windows if w.weekday == day.weekday()), key=lambda w: w.start):
            local = datetime.datetime.combine(day, window.start)
            window_end = datetime.datetime.combine(day, window.end)
            while local + length <= window_end:
                start = local.replace(tzinfo=zone).astimezone(datetime.UTC)
                if start >= earliest and start not in taken:
                    candidates.append(Slot(start=start, end=start + length))
                local += length
    return slots_spread(candidates, zone=zone, count=count)


def slots_spread(candidates: list[Slot], *, zone: Any, count: int = SLOTS_OFFERED) -> list[Slot]:
    """The earliest slot of each of the first `count` days that have one (so the person chooses
    between days), then the next earliest ones; in time order."""
    ordered = sorted(candidates, key=lambda s: s.start)
    chosen: list[Slot] = []
    days: set[datetime.date] = set()
    for slot in ordered:
        day = slot.start.astimezone(zone).date()
        if day not in days and len(chosen) < count:
            chosen.append(slot)
            days.add(day)
    for slot in ordered:
        if len(chosen) >= count:
            break
        if slot not in chosen:
            chosen.append(slot)
    return sorted(chosen, key=lambda s: s.start)


def taken_starts(*, workspace: Workspace, now: datetime.datetime) -> set[datetime.datetime]:
    """Start times already booked: the assistant's bookings and the timeline's `booking_created`
    events (Calendly or any source with a `start_time`) whose booking was not cancelled."""
    taken = set(
        Booking.objects.filter(workspace=workspace, status=BookingStatus.BOOKED, start_at__gte=now).values_list(
            "start_at", flat=True
        )
    )
    rows = Event.objects.filter(
        workspace=workspace,
        event__in=["booking_created", "booking_cancelled"],
        received_at__gte=now - BOOKINGS_LOOKBACK,
    ).values_list("event", "properties")
    created: dict[str, datetime.datetime] = {}
    cancelled: set[str] = set()
    for name, properties in rows.iterator():
        properties = properties or {}
        key = str(properties.get("invitee_uri") or properties.get("event_uri") or properties.get("booking_id") or "")
        if name == "booking_cancelled":
            cancelled.add(key)
            continue
        start = parse_datetime(str(properties.get("start_time") or ""))
        if start is not None and start.tzinfo is not None and start >= now:
            created[key or f"#{len(created)}"] = start.astimezone(datetime.UTC)
    taken.update(start for key, start in created.items() if key not in cancelled)
    return taken
