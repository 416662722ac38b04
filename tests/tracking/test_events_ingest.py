"""events_ingest called directly, as webhook receivers and agents do, and the hot path's cost."""

import datetime
import json

import pytest
from django.utils import timezone

from identity.models import Customer
from tracking import services
from tracking.inputs import EventInput
from tracking.models import Event, Visit
from tracking.services import IngestRefused, events_ingest


def test_direct_callers_name_their_source_and_signals(tenant):
    when = timezone.now() - datetime.timedelta(minutes=1)
    result = events_ingest(
        workspace=tenant.workspace,
        events=[
            EventInput(event="form_submit", visitor_id="dev-1", email="jane@example.com", phone="+14155550100"),
            EventInput(
                event="whatsapp_received",
                source="channel",
                occurred_at=when,
                phone="+1 415 555 0100",
                phone_channel=True,
                message_id="twilio:SM123",
            ),
            EventInput(
                event="deposit_paid",
                source="webhook",
                external_ids={"stripe": "cus_123"},
                email="jane@example.com",
                account_signal=True,
                message_id="stripe:evt_1",
            ),
        ],
    )
    assert (result.accepted, result.duplicates, result.suppressed, result.rejected) == (3, 0, 0, [])
    form, whatsapp, paid = Event.objects.order_by("id")
    assert result.event_ids == [form.pk, whatsapp.pk, paid.pk]
    assert [form.rung, whatsapp.rung, paid.rung] == [2, 3, 4]
    assert whatsapp.source == "channel" and whatsapp.occurred_at == when
    assert whatsapp.context["ladder"] == "phone"
    assert paid.context["ladder"] == "account"
    assert {form.customer_id, whatsapp.customer_id, paid.customer_id} == {Customer.objects.get().pk}
    # Server-side events without a device are not visits.
    assert Visit.objects.count() == 1


def test_events_of_a_batch_follow_their_customer_into_a_merge(tenant):
    result = events_ingest(
        workspace=tenant.workspace,
        events=[
            EventInput(event="page_view", visitor_id="dev-a"),
            EventInput(event="lead", source="agent", email="sam@example.com"),
            EventInput(event="identify", visitor_id="dev-a", email="sam@example.com"),  # links the two
        ],
    )
    assert result.accepted == 3
    live = Customer.objects.get(status="live")
    assert set(Event.objects.values_list("customer_id", flat=True)) == {live.pk}


def test_bad_values_are_rejected_by_index(tenant):
    result = events_ingest(
        workspace=tenant.workspace,
        events=[
            EventInput(event=""),
            EventInput(event="ok"),
            EventInput(event="x", source="fax"),
            EventInput(event="x", occurred_at="2024-13-45T00:00:00Z"),
            EventInput(event="x", properties=["no"]),  # type: ignore[arg-type]
        ],
    )
    assert result.accepted == 1
    assert [r["index"] for r in result.rejected] == [0, 2, 3, 4]
    assert result.rejected[2]["error"].startswith("occurred_at is not a valid ISO 8601 timestamp")


def test_another_region_is_refused_before_anything_is_stored(tenant, settings):
    settings.CLARM_REGION = "au"
    with pytest.raises(IngestRefused) as refused:
        events_ingest(workspace=tenant.workspace, events=[EventInput(event="x", email="a@example.com")])
    assert refused.value.status == 403
    assert not Event.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.postgres_only(reason="the known-device lane is a PostgreSQL statement")
@pytest.mark.django_db(transaction=True)
def test_a_known_device_page_view_is_one_statement(
    client, tenant, django_assert_num_queries, django_capture_on_commit_callbacks
):
    """Key, salt, the device's visit and its owner come from caches; the known-device lane stores
    the event, re-checks the owner and moves the visit on in one statement (no transaction of its own)."""

    def page_view(n: int):
        body = {
            "event": "page_view",
            "visitor_id": "known-device",
            "session_id": "known-session",
            "url": f"https://shop.example/p/{n}",
            "message_id": f"q-{n}",
            "properties": {"title": f"Product {n}"},
        }
        with django_capture_on_commit_callbacks(execute=True):  # the visit cache is written after commit
            return client.post(
                f"/api/track?key={tenant.write_key}",
                data=json.dumps(body),
                content_type="application/json",
                REMOTE_ADDR="8.8.8.8",
            )

    assert page_view(0).status_code == 202  # the device becomes known; caches fill
    assert page_view(1).status_code == 202
    with django_assert_num_queries(1) as captured:
        r = page_view(2)
    assert captured.captured_queries[0]["sql"].startswith("/* prepared */ WITH c AS")
    assert r.status_code == 202
    assert r.json()["accepted"] == 1
    visit = Visit.objects.get()
    assert visit.event_count == 3
    assert Event.objects.filter(session_id="known-session").count() == 3


@pytest.mark.postgres_only(reason="the known-device lane is a PostgreSQL statement")
def test_a_batch_of_known_devices_page_views_is_one_statement(post_track, django_assert_num_queries):
    def page_view(device: int, n: int) -> dict:
        return {
            "event": "page_view",
            "visitor_id": f"device-{device}",
            "session_id": f"session-{device}",
            "message_id": f"b-{device}-{n}",
        }

    assert post_track({"batch": [page_view(d, 0) for d in range(3)]}).json()["accepted"] == 3  # devices known
    with django_assert_num_queries(1) as captured:
        r = post_track({"batch": [page_view(d, n) for n in (1, 2) for d in range(3)]})
    assert captured.captured_queries[0]["sql"].startswith("/* prepared */ WITH r AS")
    assert r.json() == {"accepted": 6, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert sorted(Visit.objects.values_list("event_count", flat=True)) == [3, 3, 3]
    for d in range(3):
        owners = set(Event.objects.filter(session_id=f"session-{d}").values_list("customer_id", flat=True))
        assert len(owners) == 1 and None not in owners


@pytest.mark.postgres_only(reason="the known-device lane is a PostgreSQL statement")
def test_a_batch_through_the_lane_moves_last_seen_once_a_minute_behind(post_track, monkeypatch):
    def page_view(device: int, n: int, at: str) -> dict:
        return {
            "event": "page_view",
            "visitor_id": f"device-{device}",
            "session_id": f"session-{device}",
            "message_id": f"s-{device}-{n}",
            "timestamp": at,
        }

    post_track({"batch": [page_view(d, 0, "2026-11-21T10:00:00Z") for d in range(2)]})
    customers = [Customer.objects.get(events__message_id=f"s-{d}-0") for d in range(2)]
    full_path: list[int] = []
    real_store = services._store

    def spied_store(**kwargs):
        full_path.append(1)
        return real_store(**kwargs)

    monkeypatch.setattr(services, "_store", spied_store)
    # 30 s later (within the slack): stored, last_seen not moved; 90 s later: moved, for both people.
    for n, at in ((1, "2026-11-21T10:00:30Z"), (2, "2026-11-21T10:01:30Z")):
        r = post_track({"batch": [page_view(d, n, at) for d in range(2)]})
        assert r.json()["accepted"] == 2
        for customer in customers:
            customer.refresh_from_db()
            expected = "10:00:00" if n == 1 else "10:01:30"
            assert customer.last_seen.strftime("%H:%M:%S") == expected
    assert full_path == []  # both batches went through the known-device lane
    assert Event.objects.filter(message_id__startswith="s-").values("customer_id").distinct().count() == 2
