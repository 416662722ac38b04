"""Week arithmetic in the workspace's zone: names, boundaries, DST."""

import datetime
import zoneinfo

import pytest

from agents.summary.periods import (
    due_week_key,
    latest_week_key,
    period_for_week,
    period_until,
    send_moment,
    week_key_parse,
    week_label,
    workspace_zone,
)
from agents.summary.selectors import Change
from tests.agents.conftest import utc

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def test_a_week_is_friday_to_thursday_before_the_friday_it_is_sent():
    period = period_for_week("2025-W11", TOKYO)  # sent Fri 14 Mar 2025
    assert (period.first_day, period.last_day) == (datetime.date(2025, 3, 7), datetime.date(2025, 3, 13))
    assert period.start_local.isoformat() == "2025-03-07T00:00:00+09:00"
    assert period.end_local.isoformat() == "2025-03-14T00:00:00+09:00"
    assert period.end <= send_moment("2025-W11", TOKYO)
    assert period.previous.end == period.start
    assert period.previous.first_day == datetime.date(2025, 2, 28)
    assert week_label("2025-W11") == "Fri 7 – Thu 13 Mar 2025"
    assert week_label("2025-W10") == "Fri 28 Feb – Thu 6 Mar 2025"
    assert week_label("2026-W01") == "Fri 26 Dec 2025 – Thu 1 Jan 2026"


def test_a_week_across_the_spring_dst_change_is_seven_local_days():
    period = period_for_week("2025-W11", LA)
    assert period.start_local.isoformat() == "2025-03-07T00:00:00-08:00"
    assert period.end_local.isoformat() == "2025-03-14T00:00:00-07:00"
    assert period.end - period.start == datetime.timedelta(days=7, hours=-1)
    assert period.previous.end == period.start


def test_a_week_across_the_autumn_dst_change():
    period = period_for_week("2025-W45", LA)  # DST ends Sunday 2 November 2025
    assert period.start_local.isoformat() == "2025-10-31T00:00:00-07:00"
    assert period.end_local.isoformat() == "2025-11-07T00:00:00-08:00"
    assert period.end - period.start == datetime.timedelta(days=7, hours=1)


def test_the_last_seven_days_are_today_and_the_six_before_in_the_workspace_zone():
    # 23:30 UTC on Monday 10 March is already Tuesday 11 March in Tokyo.
    period = period_until(utc(2025, 3, 10, 23, 30), TOKYO)
    assert (period.first_day, period.last_day) == (datetime.date(2025, 3, 5), datetime.date(2025, 3, 11))
    assert period_until(utc(2025, 3, 10, 23, 30), LA).last_day == datetime.date(2025, 3, 10)


def test_send_moment_is_friday_17_local():
    assert send_moment("2025-W11", TOKYO) == utc(2025, 3, 14, 8, 0)
    assert send_moment("2025-W11", LA) == utc(2025, 3, 15, 0, 0)
    assert send_moment("2026-W53", TOKYO) == utc(2027, 1, 1, 8, 0)  # ISO year 2026 has 53 weeks


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2025, 3, 14, 7, 59), None),
        (utc(2025, 3, 14, 8, 0), "2025-W11"),
        (utc(2025, 3, 14, 14, 59), "2025-W11"),
        (utc(2025, 3, 14, 15, 0), None),  # Saturday has begun in Tokyo
    ],
)
def test_due_only_on_friday_from_17(now, expected):
    assert due_week_key(zone=TOKYO, now=now) == expected


def test_latest_week_is_the_last_friday_17_not_in_the_future():
    assert latest_week_key(zone=TOKYO, now=utc(2025, 3, 14, 7, 59)) == "2025-W10"
    assert latest_week_key(zone=TOKYO, now=utc(2025, 3, 14, 8, 0)) == "2025-W11"
    assert latest_week_key(zone=TOKYO, now=utc(2025, 3, 19, 0, 0)) == "2025-W11"


@pytest.mark.parametrize("bad", ["", "2025-11", "2025-W1", "2025-W54", "2025-W00", "W11-2025"])
def test_malformed_week_keys_are_refused(bad):
    with pytest.raises(ValueError, match=r"week|ISO"):
        week_key_parse(bad)


def test_an_unknown_zone_falls_back_to_utc():
    assert workspace_zone("Mars/Olympus_Mons").key == "UTC"


@pytest.mark.parametrize(
    ("current", "previous", "label", "direction"),
    [
        (12, 10, "+20%", "up"),
        (5, 10, "−50%", "down"),
        (3, 3, "±0%", "flat"),
        (4, 0, "new", "up"),
        (0, 0, "±0", "flat"),
    ],
)
def test_change_labels(current, previous, label, direction):
    change = Change(current, previous)
    assert (change.label, change.direction) == (label, direction)
