"""A batch is stitched exactly as its events would be one by one (IdentityBatch: one lookup, the
common case in memory, the rest through the per-event slow path), at a fixed cost in queries."""

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import Customer, CustomerStatus, Identifier, Suppression
from identity.stitching.batch import _datetime
from identity.stitching.stitcher import workspace_stitch
from tests.factories import UserFactory, make_workspace
from tracking.inputs import EventInput
from tracking.models import Event, Visit
from tracking.normalize import claims_from_values
from tracking.purposes import Purpose
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
    tenant, settings, django_capture_on_commit_callbacks
):
    settings.CLARM_STITCH_INLINE = False  # appended by the edge, stitched below in one batch
    ws = tenant.workspace
    devices = [f"known-{d}" for d in range(10)]
    now = timezone.now()
    events_ingest(
        workspace=ws,
        events=[
            EventInput(event="page_view", visitor_id=d, session_id="s", occurred_at=now - datetime.timedelta(hours=1))
            for d in devices
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):  # the devices' visits go in the cache
        workspace_stitch(ws.pk)

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
        assert events_ingest(workspace=ws, events=batch(size, start)).accepted == size
        with CaptureQueriesContext(connection) as captured:
            assert workspace_stitch(ws.pk).stitched == size
        sql = [q["sql"] for q in captured.captured_queries]
        statements = [q.split()[0].upper() for q in sql]
        statements = [s for s in statements if s not in ("SAVEPOINT", "RELEASE")]  # the test's transaction
        counts.append(statements)
        # One identity lookup for the whole batch, and one UPDATE of the customers (last_seen moved).
        assert len([q for q in sql if q.startswith("SELECT") and "identity_" in q]) == 1, sql
        assert len([q for q in sql if q.startswith("UPDATE") and "identity_customer" in q]) == 1, sql
    assert counts[0] == counts[1], counts
    assert Event.objects.filter(workspace=ws).count() == 120
    assert set(Visit.objects.filter(workspace=ws).values_list("event_count", flat=True)) == {12}


def _new_people(size: int, tag: str) -> list[EventInput]:
    """New devices, each with two page views in one visit, a third identifying one of them."""
    events = []
    for i in range(size):
        device = f"{tag}-{i}"
        events.append(EventInput(event="page_view", visitor_id=device, session_id="s", occurred_at=_at(i)))
        events.append(EventInput(event="page_view", visitor_id=device, session_id="s", occurred_at=_at(i + 0.5)))
        if i % 3 == 0:
            events.append(
                EventInput(event="identify", visitor_id=device, email=f"{tag}-{i}@example.com", occurred_at=_at(i + 1))
            )
    return events


@pytest.mark.postgres_only(reason="the statement counts are PostgreSQL's (one INSERT per table)")
def test_a_batch_of_new_people_costs_the_same_few_queries_whatever_its_size(tenant, settings):
    # New devices are created in memory and inserted with one statement per table: a batch of 300
    # new people costs what a batch of 30 does (it was about 12 statements per event).
    settings.CLARM_STITCH_INLINE = False
    ws = tenant.workspace
    counts = []
    for size, tag in ((10, "small"), (100, "large")):
        events = _new_people(size, tag)
        assert events_ingest(workspace=ws, events=events).accepted == len(events)
        with CaptureQueriesContext(connection) as captured:
            assert workspace_stitch(ws.pk).stitched == len(events)
        statements = [q["sql"].split()[0].upper() for q in captured.captured_queries]
        counts.append([s for s in statements if s not in ("SAVEPOINT", "RELEASE")])
    assert counts[0] == counts[1], counts
    assert Customer.objects.filter(workspace=ws).count() == 110
    assert Identifier.objects.filter(workspace=ws, kind="email").count() == 4 + 34
    assert sorted(Visit.objects.filter(workspace=ws).values_list("event_count", flat=True)) == [2] * 72 + [3] * 38


def test_new_people_in_a_batch_are_stitched_as_one_by_one(tenant):
    one_by_one = tenant.workspace
    script = [
        *_new_people(6, "p"),
        # A known email on a new device (the slow path after in-memory creations), a new person after it.
        EventInput(event="identify", visitor_id="p-1", email="p-0@example.com", occurred_at=_at(20)),
        EventInput(event="purchase", visitor_id="q", user_id="acct-9", occurred_at=_at(21)),  # rung 4 at once
        EventInput(event="page_view", visitor_id="q", occurred_at=_at(22)),
    ]
    for item in script:
        assert events_ingest(workspace=one_by_one, events=[item]).accepted == 1
    batched, *_ = make_workspace("Batched", owner=UserFactory(username="batch-owner", email="batch@example.com"))
    assert events_ingest(workspace=batched, events=script).accepted == len(script)
    assert _outcome(batched) == _outcome(one_by_one)
    q = Customer.objects.get(workspace=batched, identifiers__kind="user_id")
    assert (q.rung, q.customer_number) == (4, 1)


def test_an_identifier_joined_in_memory_after_a_slow_path_is_stored(tenant):
    # Found by the split property test: Ann (acct-1) is made in memory, an event with her email and
    # another account takes the slow path (a second person), then her phone joins her in memory. The
    # phone's identifier must be stored with the batch, or the next batch finds the phone unknown and
    # gives it to the second person (the one-at-a-time result keeps it Ann's).
    script = [
        EventInput(event="identify", email="ann@example.com", user_id="acct-1", message_id="m0", occurred_at=_at(0)),
        EventInput(event="identify", email="ann@example.com", user_id="acct-2", message_id="m2", occurred_at=_at(2)),
        EventInput(event="identify", phone="+14155550101", user_id="acct-1", message_id="m5", occurred_at=_at(5)),
    ]
    later = EventInput(event="identify", phone="+14155550101", user_id="acct-2", message_id="m7", occurred_at=_at(7))
    one_by_one = tenant.workspace
    for item in [*script, later]:
        assert events_ingest(workspace=one_by_one, events=[item]).accepted == 1
    batched, *_ = make_workspace("Batched", owner=UserFactory(username="batch-owner", email="batch@example.com"))
    assert events_ingest(workspace=batched, events=script).accepted == 3  # one batch
    assert Identifier.objects.filter(workspace=batched, kind="phone").count() == 1
    assert events_ingest(workspace=batched, events=[later]).accepted == 1
    assert _outcome(batched) == _outcome(one_by_one)
    second = Customer.objects.get(workspace=batched, events__message_id="m7")
    assert second.phone == "" and second.email == ""


def test_a_person_created_on_the_slow_path_between_new_people_keeps_its_own_key(tenant):
    # An email on the suppression list (a marketing opt-out of an erased person) is created on the
    # slow path, between two people created in memory: on SQLite the keys reserved before it must not
    # be handed out again after it.
    ws = tenant.workspace
    claim = claims_from_values(ws, email="gone@example.com").claims[0]
    Suppression.objects.create(workspace=ws, kind=claim.kind, value_hash=claim.value_hash, marketing_email=True)
    events = [
        EventInput(event="page_view", visitor_id="first", occurred_at=_at(0)),
        EventInput(event="identify", email="gone@example.com", occurred_at=_at(1)),
        EventInput(event="page_view", visitor_id="second", occurred_at=_at(2)),
        EventInput(event="page_view", visitor_id="third", occurred_at=_at(3)),
    ]
    assert events_ingest(workspace=ws, events=events).accepted == 4
    assert Event.objects.filter(workspace=ws).count() == 4
    owners = list(Event.objects.filter(workspace=ws).order_by("occurred_at").values_list("customer_id", flat=True))
    assert len(set(owners)) == 4 and None not in owners
    gone = Customer.objects.get(workspace=ws, email="gone@example.com")
    assert gone.allow_marketing_email is False and gone.allow_analytics is True


@pytest.mark.parametrize("position", ["alone", "in a batch"])
def test_an_opted_out_customers_analytics_events_are_not_stored(tenant, settings, position):
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
    settings.CLARM_STITCH_INLINE = False  # the edge appends all four; the stitcher refuses two
    requests = [[web], [channel], [written], [other]] if position == "alone" else [[web, channel, written, other]]
    outcomes = []
    for events in requests:
        assert events_ingest(workspace=ws, events=events).accepted == len(events)
        outcomes.append(workspace_stitch(ws.pk))
    assert sum(o.suppressed for o in outcomes) == 2
    assert sum(o.stitched for o in outcomes) == 2
    assert not Event.objects.filter(message_id__in=["later", "sms-key"]).exists()
    assert Event.objects.filter(message_id__in=["sms", "y"]).count() == 2


def test_times_read_back_from_sqlite_text_are_utc_aware():
    # The embedded default (SQLite) returns timestamps of raw queries as zone-less text in UTC.
    assert _datetime("2026-11-21 10:00:00.250000") == datetime.datetime(
        2026, 11, 21, 10, 0, 0, 250000, tzinfo=datetime.UTC
    )
    aware = datetime.datetime(2026, 11, 21, 10, 0, tzinfo=datetime.UTC)
    assert _datetime(aware) is aware
