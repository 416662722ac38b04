"""events_ingest called directly, as webhook receivers and agents do, and the edge's cost."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import Customer
from identity.stitching.stitcher import events_ingest_stitched
from tracking.inputs import EventInput
from tracking.models import Event, PendingEvent, Visit
from tracking.services import IngestRefused, events_ingest


def test_direct_callers_name_their_source_and_signals(tenant):
    when = timezone.now() - datetime.timedelta(minutes=1)
    result = events_ingest_stitched(
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
    form, whatsapp, paid = Event.objects.order_by("id")  # stored in their order
    assert [form.event, whatsapp.event, paid.event] == ["form_submit", "whatsapp_received", "deposit_paid"]
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("returning", [False, True], ids=["new devices", "returning devices"])
def test_the_edge_writes_once_per_request_and_looks_no_one_up(
    client, tenant, settings, django_capture_on_commit_callbacks, returning
):
    """Whatever the request (a batch of new or returning devices, with an identify): after the key and
    the day's salt are cached, the edge's only database write is its append (one statement on
    PostgreSQL; the keys and the rows on SQLite, in one transaction). No customer, identifier, visit
    or stored event is read; the stitcher does that later."""

    def post(body: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/api/track?key={tenant.write_key}",
                data=json.dumps(body),
                content_type="application/json",
                REMOTE_ADDR="8.8.8.8",
            )

    def batch(n: int) -> dict:
        return {
            "batch": [
                {"event": "page_view", "visitor_id": f"dev-{d}", "session_id": "s", "message_id": f"m-{n}-{d}"}
                for d in range(5)
            ]
            + [{"event": "identify", "visitor_id": "dev-0", "email": "ann@example.com", "message_id": f"i-{n}"}]
        }

    assert post(batch(0)).status_code == 202  # caches the key and the salt; devices known from here
    if returning:
        assert post(batch(1)).json()["accepted"] == 6
    settings.CLARM_STITCH_INLINE = False
    with CaptureQueriesContext(connection) as captured:
        r = post(batch(2))
    assert r.json() == {"accepted": 6, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    # (On SQLite the cache is the database's too: its rate-limit counter is not the edge's write.)
    ours = [q["sql"] for q in captured.captured_queries if "clarm_cache" not in q["sql"]]
    writes = [sql for sql in ours if "tracking_pendingevent" in sql or "tracking_dedupekey" in sql]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 2)  # SQLite: the keys, then the rows
    assert not [sql for sql in ours if "identity_" in sql or "tracking_visit" in sql or '"tracking_event"' in sql]
    assert PendingEvent.objects.count() == 6 and Event.objects.count() == (12 if returning else 6)
