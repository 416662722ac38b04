"""A batch is stitched exactly as its events would be one by one (IdentityBatch: one lookup, the
common case in memory, the rest through the per-event slow path), at a fixed cost in queries."""

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import Customer, CustomerStatus, Identifier
from identity.purposes import Purpose
from tests.factories import UserFactory, make_workspace
from tracking.inputs import EventInput
from tracking.models import Event, Visit
from tracking.services import events_ingest

T = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def _at(minutes: float) -> datetime.datetime:
    return T + datetime.timedelta(minutes=minutes)


def _script() -> list[EventInput]:
    """Known devices, a second visit, identifies, a merge in the middle, events that follow the
    merge on the fast path, a shared device, a purchase (customer number), traits, and channel and
    agent events without a device."""
    return [
        EventInput(event="page_view", visitor_id="dev-a", session_id="a1", occurred_at=_at(0)),
        EventInput(event="page_view", visitor_id="dev-b", session_id="b1", occurred_at=_at(1)),
        EventInput(event="click", visitor_id="dev-a", session_id="a1", occurred_at=_at(2)),
        EventInput(event="page_view", visitor_id="dev-a", session_id="a2", occurred_at=_at(50)),  # rung 1
        EventInput(event="lead", source="agent", email="sam@example.com", occurred_at=_at(51)),
        EventInput(
            event="identify",
            visitor_id="dev-a",
            session_id="a2",
            email="sam@example.com",
            traits={"name": "Sam", "plan": "pro"},
            occurred_at=_at(52),
        ),  # merges dev-a's customer with the email's
        EventInput(event="page_view", visitor_id="dev-a", session_id="a2", occurred_at=_at(53)),
        EventInput(event="page_view", visitor_id="dev-b", session_id="b1", occurred_at=_at(54)),
        EventInput(event="identify", visitor_id="dev-b", session_id="b1", email="kim@example.com", occurred_at=_at(55)),
        # dev-b is Kim's; Lee signs in on it: a different person on a shared device.
        EventInput(event="identify", visitor_id="dev-b", session_id="b1", email="lee@example.com", occurred_at=_at(56)),
        EventInput(event="page_view", visitor_id="dev-b", session_id="b1", occurred_at=_at(57)),
        EventInput(
            event="whatsapp_in", source="channel", phone="+14155550100", phone_channel=True, occurred_at=_at(58)
        ),
        EventInput(event="form_submit", visitor_id="dev-a", phone="+14155550100", occurred_at=_at(59)),  # links
        EventInput(event="purchase", visitor_id="dev-a", session_id="a2", occurred_at=_at(60)),  # rung 4, #1
        EventInput(event="page_view", visitor_id="dev-a", session_id="a2", traits={"plan": "max"}, occurred_at=_at(61)),
        EventInput(event="page_view", visitor_id="dev-c", session_id="c1", occurred_at=_at(62)),
        EventInput(event="page_view", visitor_id="dev-c", session_id="c1", occurred_at=_at(63)),
        EventInput(event="page_view", occurred_at=_at(64)),  # no identifier at all
    ]


def _outcome(workspace) -> dict[str, Any]:
    """Per event (in order): which customer (as the index of its first event), rung, customer
    state; comparable across workspaces."""
    events = list(Event.objects.filter(workspace=workspace).order_by("occurred_at", "id"))
    first: dict[int | None, int] = {}
    per_event = []
    for n, e in enumerate(events):
        first.setdefault(e.customer_id, n)
        per_event.append((e.event, first[e.customer_id] if e.customer_id else None, e.rung))
    customers = sorted(
        (first.get(c.pk), c.rung, c.customer_number, c.email, c.phone, c.name, c.traits, c.first_seen, c.last_seen)
        for c in Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE)
        if c.pk in first
    )
    identifiers = sorted(
        (kind, visit_count, first.get(customer_id))
        for kind, visit_count, customer_id in Identifier.objects.filter(workspace=workspace).values_list(
            "kind", "visit_count", "customer_id"
        )
    )
    visits = sorted(Visit.objects.filter(workspace=workspace).values_list("session_id", "event_count"))
    return {"events": per_event, "customers": customers, "identifiers": identifiers, "visits": visits}


def test_a_batch_stitches_like_the_same_events_one_by_one(tenant):
    one_by_one = tenant.workspace
    for item in _script():
        assert events_ingest(workspace=one_by_one, events=[item]).accepted == 1
    batched, *_ = make_workspace("Batched", owner=UserFactory(username="batch-owner", email="batch@example.com"))
    result = events_ingest(workspace=batched, events=_script())
    assert result.accepted == len(_script()) and result.rejected == []
    expected, got = _outcome(one_by_one), _outcome(batched)
    assert got == expected
    # The story itself: Sam's events from before the email are his (retroactive), the rung climbs
    # per event, Lee took dev-b from that event on, the purchase gave Sam customer number 1.
    rungs = [rung for _, _, rung in got["events"]]
    assert rungs == [0, 0, 0, 1, 2, 2, 2, 0, 2, 2, 2, 3, 3, 4, 4, 0, 0, 0]
    owners = [owner for _, owner, _ in got["events"]]
    assert owners[0] == owners[2] == owners[3] == owners[4] == owners[5] == owners[13]
    assert owners[9] != owners[8] and owners[10] == owners[9]  # Lee on the shared device
    sam = Customer.objects.get(workspace=batched, email="sam@example.com", status=CustomerStatus.LIVE)
    assert (sam.rung, sam.customer_number, sam.name, sam.traits) == (4, 1, "Sam", {"plan": "max"})
    assert sam.phone == "+14155550100" and sam.last_seen == _at(61)


@pytest.mark.postgres_only(reason="one lookup and one UPDATE per table are PostgreSQL statements")
def test_a_batch_of_known_devices_costs_the_same_few_queries_whatever_its_size(
    tenant, django_capture_on_commit_callbacks
):
    ws = tenant.workspace
    devices = [f"known-{d}" for d in range(10)]
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):  # the devices' visits go in the cache
        events_ingest(
            workspace=ws,
            events=[
                EventInput(
                    event="page_view", visitor_id=d, session_id="s", occurred_at=now - datetime.timedelta(hours=1)
                )
                for d in devices
            ],
        )

    def batch(size: int, start: float) -> list[EventInput]:
        return [
            EventInput(
                event="page_view",
                visitor_id=devices[i % 10],
                session_id="s",
                occurred_at=now - datetime.timedelta(minutes=start - i / 100),
            )
            for i in range(size)
        ]

    counts = []
    for size, start in ((10, 40), (100, 20)):  # minutes ago: both move every customer's last_seen
        with CaptureQueriesContext(connection) as captured:
            assert events_ingest(workspace=ws, events=batch(size, start)).accepted == size
        statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
        statements = [s for s in statements if s not in ("SAVEPOINT", "RELEASE")]  # the test's transaction
        counts.append(statements)
        # One lookup, one INSERT, one UPDATE of the visits, one of the customers (last_seen moved).
        assert statements.count("SELECT") == 1, statements
        assert len(statements) <= 6, statements
    assert counts[0] == counts[1], counts
    assert Event.objects.filter(workspace=ws).count() == 120
    assert set(Visit.objects.filter(workspace=ws).values_list("event_count", flat=True)) == {12}


@pytest.mark.parametrize("position", ["alone", "in a batch"])
def test_an_opted_out_customers_analytics_events_are_not_stored(tenant, position):
    ws = tenant.workspace
    events_ingest(workspace=ws, events=[EventInput(event="identify", visitor_id="dev-x", email="x@example.com")])
    Customer.objects.filter(workspace=ws).update(allow_analytics=False)
    web = EventInput(event="page_view", visitor_id="dev-x", message_id="later")
    # A provider's record of a message is transactional: kept. The same named by a write-key caller is
    # analytics (the default purpose): refused.
    channel = EventInput(
        event="sms_in", source="channel", email="x@example.com", message_id="sms", purpose=Purpose.TRANSACTIONAL
    )
    written = EventInput(event="sms_in", source="channel", email="x@example.com", message_id="sms-key")
    other = EventInput(event="page_view", visitor_id="dev-y", message_id="y")
    if position == "alone":
        results = [events_ingest(workspace=ws, events=[e]) for e in (web, channel, written, other)]
    else:
        results = [events_ingest(workspace=ws, events=[web, channel, written, other])]
    assert sum(r.accepted for r in results) == 4  # all appended; the stitcher refuses two
    assert not Event.objects.filter(message_id__in=["later", "sms-key"]).exists()
    assert Event.objects.filter(message_id__in=["sms", "y"]).count() == 2


def test_times_read_back_from_sqlite_text_are_utc_aware():
    # The embedded default (SQLite) returns timestamps of raw queries as zone-less text in UTC.
    from datetime import UTC, datetime

    from identity.stitching.batch import _datetime

    assert _datetime("2026-11-21 10:00:00.250000") == datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC)
    aware = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert _datetime(aware) is aware
