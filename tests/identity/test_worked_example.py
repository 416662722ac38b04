"""DESIGN's worked example, event by event, at the service level."""

from datetime import UTC, datetime, timedelta
from typing import Any

from identity.models import Customer, CustomerStatus, MergeLog
from tests.identity.helpers import send
from tracking.models import Event

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE = "+1 415 555 0142"


def test_worked_example_seven_events_one_timeline(tenant):
    ws = tenant.workspace
    steps: list[tuple[datetime, str, str, dict[str, Any], dict[str, Any], int]] = [
        # (when, source, event, identifiers, ladder signals and session, expected rung)
        (T, "web", "page_view", {"device": "dev-7f3a"}, {"session": "visit-1"}, 0),
        (T + timedelta(seconds=12), "web", "click", {"device": "dev-7f3a"}, {"session": "visit-1"}, 0),
        (
            T + timedelta(minutes=1),
            "web",
            "form_submit",
            {"device": "dev-7f3a", "email": "Jane.Doe@Example.com ", "phone": PHONE},
            {"session": "visit-1"},
            2,
        ),
        (
            T + timedelta(minutes=9),
            "channel",
            "message_received",
            {"phone": PHONE},
            {"phone_channel": True},
            3,
        ),
        (T + timedelta(minutes=11), "agent", "lead_qualified", {"phone": PHONE}, {}, 3),
        (
            T + timedelta(minutes=15),
            "webhook",
            "payment_succeeded",
            {"email": "jane.doe@example.com", "external": {"stripe": "cus_Q1"}},
            {"account_signal": True},
            4,
        ),
        (T + timedelta(days=1), "agent", "reminder_sent", {"phone": PHONE}, {}, 4),
    ]
    customer_ids = set()
    for when, source, name, ids, signals, rung in steps:
        resolution = send(ws, at=when, source=source, event=name, **signals, **ids)
        assert resolution.rung == rung, name
        assert resolution.event is not None
        customer_ids.add(resolution.customer_id)
        if name == "message_received":
            # Recognised instantly: the number typed in the form already points at the customer.
            assert not resolution.created

    assert len(customer_ids) == 1
    customer = Customer.objects.get(pk=customer_ids.pop())
    assert customer.rung == 4 and customer.customer_number == 1
    assert customer.email == "jane.doe@example.com" and customer.phone == "+14155550142"
    assert customer.first_seen == T and customer.last_seen == T + timedelta(days=1)
    timeline = list(Event.objects.filter(customer=customer).order_by("occurred_at").values_list("event", "rung"))
    assert timeline == [(s[2], s[5]) for s in steps]
    assert Customer.objects.filter(workspace=ws).count() == 1
    ws.refresh_from_db()
    assert ws.next_customer_number == 2


def test_events_recorded_before_identity_are_stitched_retroactively(tenant):
    ws = tenant.workspace
    # A WhatsApp conversation first (customer A, known by phone) ...
    first = send(ws, at=T, source="channel", phone=PHONE, phone_channel=True)
    # ... and an anonymous browser with two visits (customer B) ...
    anon = send(ws, at=T + timedelta(minutes=1), device="dev-b", session="v1")
    send(ws, at=T + timedelta(hours=2), device="dev-b", session="v2")
    assert first.customer_id != anon.customer_id
    # ... until a form on that browser gives the same phone and an email: one person.
    resolution = send(ws, at=T + timedelta(hours=3), device="dev-b", phone=PHONE, email="jo@example.com")
    assert resolution.customer_id == first.customer_id  # the survivor has the higher rung (3)
    assert resolution.merged_customer_ids == (anon.customer_id,)
    assert resolution.rung == 3
    merged = Customer.objects.get(pk=anon.customer_id)
    assert merged.status == CustomerStatus.MERGED and merged.merged_into_id == first.customer_id
    timeline = list(Event.objects.filter(customer_id=first.customer_id).order_by("occurred_at").values_list("rung"))
    assert timeline == [(3,), (0,), (1,), (3,)]  # each event keeps the rung it had when it happened
    log = MergeLog.objects.get(workspace=ws)
    assert log.kind == MergeLog.Kind.MERGE and len(log.moved["event_ids"]) == 2
