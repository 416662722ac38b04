"""The dashboard: events go in through the real ingest, the rollup processor counts them after
commit, and the page answers from the rollups alone."""

import datetime
import io
import re

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identity.models import Customer, CustomerStatus, DailyCount, PersonFacts, RollupDimension, RollupState
from identity.rollups.dimensions import bucket_middle, wait_bucket
from identity.rollups.processor import rollups_advance, rollups_rebuild
from identity.services.merges import customers_merge_manual
from identity.tasks import rollups_queued_key
from integrations.events import event_input
from tests.ui.conftest import client_for
from tracking.services import EventInput, events_ingest

pytestmark = pytest.mark.django_db

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def page(visitor, url, at, ua=MAC, **fields):
    return EventInput(
        event="page_view",
        source="web",
        occurred_at=at,
        visitor_id=visitor,
        session_id=f"s-{visitor}",
        url=url,
        user_agent=ua,
        **fields,
    )


def ingest(workspace, events, capture):
    """Ingest as the API does; the processor's debounce window (tests: 60 s) is closed first, so
    the enqueue after commit runs it (eagerly) for every call."""
    cache.delete(rollups_queued_key(workspace.pk))
    with capture(execute=True) as callbacks:
        result = events_ingest(workspace=workspace, events=events)
    assert not result.rejected, result.rejected
    return callbacks


def story(workspace, capture, at=None):
    """Three people today: Ana from an ad campaign who leaves her email and pays $50; Ben from the
    web on a phone; Cy from the web who leaves his email."""
    at = at or timezone.now() - datetime.timedelta(hours=1)
    ingest(
        workspace,
        [
            page("ana", "https://acme.test/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring", at),
            page("ben", "https://acme.test/", at, ua=IPHONE),
            page("cy", "https://acme.test/pricing", at),
        ],
        capture,
    )
    later = at + datetime.timedelta(minutes=10)
    ingest(
        workspace,
        [
            EventInput(event="form_submit", source="web", occurred_at=later, visitor_id="ana", email="ana@ex.com"),
            EventInput(event="form_submit", source="web", occurred_at=later, visitor_id="cy", email="cy@ex.com"),
        ],
        capture,
    )
    paid = event_input(
        event="payment_received",
        source="webhook",
        provider="stripe",
        message_id="stripe:evt_ana_1",
        occurred_at=at + datetime.timedelta(minutes=30),
        email="ana@ex.com",
        properties={"provider": "stripe", "amount": 50, "amount_minor": 5000, "currency": "usd"},
        account_signal=True,
    )
    ingest(workspace, [paid], capture)


def url(workspace, **params):
    base = reverse("identity:dashboard", kwargs={"ws": workspace.slug})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def counts(workspace, dimension):
    rows = DailyCount.objects.filter(workspace=workspace, dimension=dimension).values_list("key", "count")
    totals: dict[str, int] = {}
    for key, n in rows:
        totals[key] = totals.get(key, 0) + n
    return totals


def test_ingest_enqueues_the_processor_after_commit_and_it_counts(tenant, django_capture_on_commit_callbacks):
    callbacks = ingest(
        tenant.workspace, [page("v1", "https://acme.test/a", timezone.now())], django_capture_on_commit_callbacks
    )
    assert len(callbacks) >= 1  # the rollup processor, run after the commit
    assert counts(tenant.workspace, RollupDimension.PAGE) == {"/a": 1}
    assert counts(tenant.workspace, RollupDimension.PEOPLE_SOURCE) == {"web": 1}
    assert RollupState.objects.get(workspace=tenant.workspace).last_event_id > 0


def test_the_booking_assistants_bookings_count_once_and_a_move_is_not_a_new_booking(
    tenant, django_capture_on_commit_callbacks
):
    at = timezone.now() - datetime.timedelta(hours=1)
    start = (at + datetime.timedelta(days=3)).isoformat()

    def booking(name, source, **props):
        return EventInput(event=name, source=source, email="bo@example.com", occurred_at=at, properties=props)

    ingest(
        tenant.workspace,
        [
            # in the workspace's own times: only the assistant's event tells of it
            booking("booking_taken", "agent", booking_id="clarm-booking:7", start_time=start),
            # in Calendly: the assistant's event, then Calendly's own webhook for the same invitee
            booking("booking_taken", "agent", invitee_uri="https://api.calendly.com/inv/1", start_time=start),
            booking("invitee.created", "webhook", invitee_uri="https://api.calendly.com/inv/1", start_time=start),
            # the person moves the first one from their booking page
            booking(
                "booking_rescheduled",
                "agent",
                booking_id="clarm-booking:8",
                previous_booking_id="clarm-booking:7",
                start_time=start,
            ),
        ],
        django_capture_on_commit_callbacks,
    )
    assert counts(tenant.workspace, RollupDimension.BOOKINGS) == {"made": 2}


def test_ingest_within_the_window_waits_for_the_queued_run(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    ingest(ws, [page("v1", "https://acme.test/a", timezone.now())], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):  # the window is open: no second enqueue
        events_ingest(workspace=ws, events=[page("v2", "https://acme.test/b", timezone.now())])
    assert counts(ws, RollupDimension.PAGE) == {"/a": 1}
    rollups_advance(workspace_id=ws.pk)  # the run queued when the window opened
    assert counts(ws, RollupDimension.PAGE) == {"/a": 1, "/b": 1}


def test_rollups_of_a_small_business_day(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    ws = tenant.workspace
    assert counts(ws, RollupDimension.PEOPLE_SOURCE) == {"ad": 1, "web": 2}
    assert counts(ws, RollupDimension.PEOPLE_CAMPAIGN) == {"spring": 1}
    assert counts(ws, RollupDimension.PAGE) == {"/pricing": 2, "/": 1}
    assert counts(ws, RollupDimension.DEVICE) == {"Desktop": 2, "Mobile": 1}
    # The weekly summary's day counts: the money by the day it came in, and what people did by hour
    # (three visits, two forms, Ana's payment).
    assert counts(ws, RollupDimension.REVENUE) == {"paid:USD": 5000}
    assert sum(counts(ws, RollupDimension.HOUR).values()) == 6
    assert counts(ws, RollupDimension.BOOKINGS) == {}
    ana = PersonFacts.objects.get(workspace=ws, first_campaign="spring")
    assert ana.first_source == "ad"
    assert ana.last_source == "stripe"
    assert ana.revenue_minor == 5000
    assert ana.rung2_at is not None and ana.rung4_at is not None
    assert ana.rung4_at - ana.rung2_at == datetime.timedelta(minutes=20)


def test_processor_is_idempotent_and_a_rebuild_gives_the_same_counts(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    ws = tenant.workspace
    before = sorted(DailyCount.objects.filter(workspace=ws).values_list("dimension", "date", "key", "count"))
    assert rollups_advance(workspace_id=ws.pk) is False  # nothing new: nothing counted twice
    assert sorted(DailyCount.objects.filter(workspace=ws).values_list("dimension", "date", "key", "count")) == before
    today = timezone.now().date()
    rollups_rebuild(
        workspace=ws, start=today - datetime.timedelta(days=2), end=today + datetime.timedelta(days=1), facts=True
    )
    assert sorted(DailyCount.objects.filter(workspace=ws).values_list("dimension", "date", "key", "count")) == before


def test_a_merge_counts_the_people_once(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    ws = tenant.workspace
    ben = PersonFacts.objects.get(workspace=ws, first_source="web", rung2_at__isnull=True).customer
    cy = PersonFacts.objects.get(workspace=ws, first_source="web", rung2_at__isnull=False).customer
    with django_capture_on_commit_callbacks(execute=True):
        customers_merge_manual(workspace=ws, survivor=cy, merged=ben, actor=tenant.owner)
    assert Customer.objects.get(pk=ben.pk).status == CustomerStatus.MERGED
    assert counts(ws, RollupDimension.PEOPLE_SOURCE) == {"ad": 1, "web": 1}  # cy (with ben's events) once
    assert not PersonFacts.objects.filter(customer=ben).exists()
    ingest(ws, [page("dee", "https://acme.test/contact", timezone.now())], django_capture_on_commit_callbacks)
    assert counts(ws, RollupDimension.PEOPLE_SOURCE) == {"ad": 1, "web": 2}


def test_dashboard_answers_from_rollups_only(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    client = client_for(tenant.workspace)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(tenant.workspace))
    assert response.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "tracking_event" in q["sql"]]
    body = response.content.decode()
    text = re.sub(r"<[^>]+>", " ", body)
    text = re.sub(r"\s+", " ", text)
    assert "New people 3" in text
    assert "Reached rung 4 1" in text
    assert "Revenue from them $50.00" in text
    assert "Ad spring 1 $50.00" in text  # first-touch attribution
    assert "Stripe 1 $50.00" in text  # last touch
    assert "/pricing 2" in text
    # The funnel: 3 people, 2 gave an email (66.7%), 1 of them paid (50% of the rung before).
    assert re.search(r"Email .*? 66\.7% 2 ", text)
    assert "<svg" in body and 'class="ch ch-ad"' in body
    assert "style=" not in body.split("<main", 1)[1]
    assert "<script" not in body.split("<main", 1)[1]


def test_previous_period_is_compared(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    ingest(
        ws,
        [page("old", "https://acme.test/", timezone.now() - datetime.timedelta(days=10))],
        django_capture_on_commit_callbacks,
    )
    story(ws, django_capture_on_commit_callbacks)
    response = client_for(ws).get(url(ws, range=7))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))
    assert "New people 3 +200% vs previous period" in text
    assert "Web 2 1 +100%" in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "5"}, "range must be one of 7, 28, 90"),
        ({"start": "yesterday"}, "start and end must be dates"),
        ({"start": "2026-03-05", "end": "2026-03-01"}, "end must not be before start"),
        ({"start": "2020-01-01", "end": "2026-03-01"}, "at most 366 days"),
    ],
)
def test_bad_period_is_a_clear_400(tenant, params, message):
    response = client_for(tenant.workspace).get(url(tenant.workspace, **params))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_custom_period_shows_only_its_days(tenant, django_capture_on_commit_callbacks):
    ws = tenant.workspace
    story(ws, django_capture_on_commit_callbacks, at=timezone.now() - datetime.timedelta(days=40))
    day = (timezone.now() - datetime.timedelta(days=40)).date()
    inside = client_for(ws).get(url(ws, start=day.isoformat(), end=(day + datetime.timedelta(days=1)).isoformat()))
    assert "New people 3" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inside.content.decode()))
    recent = client_for(ws).get(url(ws))
    assert "New people 0" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", recent.content.decode()))


def test_other_workspace_sees_nothing(tenant, other_tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    outsider = client_for(other_tenant.workspace)
    assert outsider.get(url(tenant.workspace)).status_code == 404
    theirs = outsider.get(url(other_tenant.workspace))
    assert "New people 0" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", theirs.content.decode()))
    assert not DailyCount.objects.filter(workspace=other_tenant.workspace).exists()


def test_signing_in_lands_on_the_dashboard(tenant):
    client = client_for(tenant.workspace, user=tenant.owner)
    response = client.get(reverse("workspaces:home"))
    assert response.status_code == 302
    assert response["Location"] == url(tenant.workspace)


@pytest.mark.parametrize("seconds", [0, 1, 5, 59, 600, 3_600, 86_400, 30 * 86_400])
def test_median_waits_are_read_from_buckets_within_root_two(seconds):
    middle = bucket_middle(wait_bucket(seconds))
    assert (seconds + 1) / 2**0.5 <= middle + 1 <= (seconds + 1) * 2**0.5


def test_funnel_median_from_day_counts(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    rows = dict(
        DailyCount.objects.filter(workspace=tenant.workspace, dimension=RollupDimension.FUNNEL).values_list(
            "key", "count"
        )
    )
    # Ana and Cy gave an email 10 minutes after their first page (rungs 1 and 2 at once: 600 s from
    # the first touch is bucket 9, then 0 s); Ana paid 20 minutes later (rungs 3 and 4 at once:
    # 1,200 s is bucket 10, then 0 s). Ben never left rung 0.
    assert rows == {"1:9": 2, "2:0": 2, "3:10": 1, "4:0": 1}


def test_rebuild_command_restores_lost_counts(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    ws = tenant.workspace
    before = sorted(DailyCount.objects.filter(workspace=ws).values_list("dimension", "date", "key", "count"))
    DailyCount.objects.filter(workspace=ws).delete()
    PersonFacts.objects.filter(workspace=ws).delete()
    out = io.StringIO()
    call_command("rollups_rebuild", "--workspace", ws.slug, stdout=out)
    assert f"of {ws.slug}" in out.getvalue()
    assert sorted(DailyCount.objects.filter(workspace=ws).values_list("dimension", "date", "key", "count")) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "nope"], "No workspace with the slug 'nope'"),
        (["--since", "March"], "--since must be a date like 2026-01-31"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "--until is before --since"),
    ],
)
def test_rebuild_command_names_bad_input(tenant, args, message):
    full = args if args[0] == "--workspace" else ["--workspace", tenant.workspace.slug, *args]
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("rollups_rebuild", *full)
