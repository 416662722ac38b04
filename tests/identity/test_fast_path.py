"""The resolver's fast path, through the pipeline: a page view from a known device writes its
customer and its device only when something changed (a new rung, `last_seen` more than
LAST_SEEN_SLACK behind, a new visit), and an event without identifiers touches no identity table.
(That a batch of known devices costs one lookup whatever its size is tests/identity/test_batch.py.)"""

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.models import Customer, Identifier
from identity.stitching import LAST_SEEN_SLACK
from identity.stitching.stitcher import events_ingest_stitched
from tests.identity.helpers import send
from tracking.inputs import EventInput
from tracking.models import Event

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _identity_writes(captured: CaptureQueriesContext) -> list[str]:
    """The captured writes to identity tables, as 'UPDATE identity_customer', ..."""
    out = []
    for query in captured.captured_queries:
        words = query["sql"].replace('"', "").split()
        verb = words[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = words[1] if verb == "UPDATE" else words[2]
            if table.startswith("identity_"):
                out.append(f"{verb} {table}")
    return out


def test_a_repeat_page_view_writes_its_customer_only_when_last_seen_is_a_minute_behind(tenant):
    ws = tenant.workspace
    first = send(ws, at=T, device="dev-hot", session="v1")
    with CaptureQueriesContext(connection) as captured:
        again = send(ws, at=T + timedelta(seconds=30), device="dev-hot", session="v1")
    assert _identity_writes(captured) == []
    assert again.customer_id == first.customer_id and not again.created and again.rung == 0
    assert Customer.objects.get(pk=first.customer_id).last_seen == T  # exact to within the slack

    later = T + LAST_SEEN_SLACK + timedelta(seconds=1)
    with CaptureQueriesContext(connection) as captured:
        send(ws, at=later, device="dev-hot", session="v1")
    assert _identity_writes(captured) == ["UPDATE identity_customer"]
    assert Customer.objects.get(pk=first.customer_id).last_seen == later


def test_the_second_visit_lifts_to_rung_one_and_the_rest_of_that_visit_writes_nothing(tenant):
    ws = tenant.workspace
    first = send(ws, at=T, device="dev-hot", session="v1")
    with CaptureQueriesContext(connection) as captured:
        second = send(ws, at=T + timedelta(hours=1), device="dev-hot", session="v2")
    assert sorted(_identity_writes(captured)) == ["UPDATE identity_customer", "UPDATE identity_identifier"]
    assert second.rung == 1 and second.customer_id == first.customer_id
    customer = Customer.objects.get(pk=first.customer_id)
    assert customer.rung == 1 and customer.last_seen == T + timedelta(hours=1)
    assert Identifier.objects.get(customer=customer).visit_count == 2
    with CaptureQueriesContext(connection) as captured:
        rest = send(ws, at=T + timedelta(hours=1, seconds=5), device="dev-hot", session="v2")
    assert _identity_writes(captured) == []
    assert rest.rung == 1 and rest.event is not None and rest.event.rung == 1


def test_an_event_without_identifiers_touches_no_identity_table(tenant):
    ws = tenant.workspace
    with CaptureQueriesContext(connection) as captured:
        result = events_ingest_stitched(
            workspace=ws, events=[EventInput(event="page_view", visitor_id="undefined", message_id="anon-1")]
        )
    assert result.accepted == 1
    assert [q["sql"] for q in captured.captured_queries if "identity_" in q["sql"]] == []
    event = Event.objects.get(workspace=ws, message_id="anon-1")
    assert event.customer_id is None and event.rung == 0
    assert not Customer.objects.filter(workspace=ws).exists()
