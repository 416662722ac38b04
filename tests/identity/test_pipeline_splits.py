"""Property: the pipeline's result does not depend on how events were split. The same events sent
one per request and stitched one at a time, or sent in requests of any sizes and stitched in batches
of any sizes, give the same customers (which events share one), the same rung on every event and
the same rung and customer number on every customer."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.models import Customer, CustomerStatus
from identity.stitching.stitcher import partition_stitch
from tests.factories import make_workspace
from tracking.append import partition_of
from tracking.inputs import EventInput
from tracking.models import Event, PendingEvent
from tracking.services import events_ingest
from workspaces.models import Workspace

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEVICES = ["dev-a", "dev-b", "dev-c"]
EMAILS = ["ann@example.com", "bob@example.com"]
PHONES = ["+14155550101", "+14155550102"]
ACCOUNTS = ["acct-1", "acct-2"]


def maybe(pool: list[str]) -> Any:
    return st.one_of(st.none(), st.sampled_from(pool), st.sampled_from(pool))  # present 2 times in 3


event = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["page_view", "identify", "form_submit", "purchase", "whatsapp_received"]),
        "device": maybe(DEVICES),
        "session": st.sampled_from(["s1", "s2", "s3"]),
        "email": maybe(EMAILS),
        "phone": maybe(PHONES),
        "user_id": st.one_of(st.none(), st.none(), st.sampled_from(ACCOUNTS)),
    }
)


def _input(n: int, e: dict[str, Any]) -> EventInput:
    return EventInput(
        event=e["name"],
        source="channel" if e["name"] == "whatsapp_received" else "web",
        occurred_at=T + timedelta(minutes=n),
        visitor_id=e["device"],
        session_id=e["session"] if e["device"] else None,
        email=e["email"],
        phone=e["phone"],
        user_id=e["user_id"],
        phone_channel=e["name"] == "whatsapp_received",
        message_id=f"m{n}",
    )


def _state(workspace: Workspace) -> tuple[Any, ...]:
    """What must not depend on the split, independent of ids and of the workspace's hash key."""
    events = list(Event.objects.filter(workspace=workspace).values_list("message_id", "rung", "customer_id"))
    groups: dict[Any, set[str]] = {}
    for message_id, _, customer_id in events:
        groups.setdefault(customer_id, set()).add(str(message_id))
    live = Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE)
    people = sorted(
        (sorted(groups.get(c.pk, set())), c.rung, c.customer_number is not None, c.email, c.phone) for c in live
    )
    unowned = sorted(groups.get(None, set()))
    return sorted((m, rung) for m, rung, _ in events), people, unowned


def _sizes(draw: Any, total: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(draw(st.integers(1, max(1, total - sum(sizes)))))
    return sizes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), events=st.lists(event, min_size=1, max_size=12))
def test_any_split_into_requests_and_batches_gives_what_one_at_a_time_gives(db, data, events):
    inputs = [_input(n, e) for n, e in enumerate(events)]
    one, *_ = make_workspace("One at a time")
    with override_settings(CLARM_STITCH_INLINE=True):  # each request stitched as it is appended
        for n, e in enumerate(events):
            events_ingest(workspace=one, events=[_input(n, e)])

    split, *_ = make_workspace("Split")
    with override_settings(CLARM_STITCH_INLINE=False):
        start = 0
        for size in _sizes(data.draw, len(inputs)):
            events_ingest(workspace=split, events=inputs[start : start + size])
            start += size
        while PendingEvent.objects.filter(workspace=split).exists():
            limit = data.draw(st.integers(1, len(inputs)))
            partition_stitch(partition_of(split.pk), workspace_id=split.pk, wait=True, limit=limit)

    assert _state(split) == _state(one)
