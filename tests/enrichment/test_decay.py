"""Scores fade between a person's events: beat rescores stale scores with recency, re-arms the
moment as DESIGN says (below 50, or 30 days after it fired), and never fires it by itself."""

import datetime

from django.conf import settings
from django.utils import timezone

from enrichment import tasks
from enrichment.intent import intent_decay
from enrichment.services import enrichment_settings_update
from identity.models import Customer
from tests.enrichment.helpers import page
from tracking.models import Event

HOME_IP = "73.1.2.3"  # residential: no company part in the score


def _age(customer: Customer, days: float) -> None:
    """Move the person's signals and the time their score was computed `days` into the past."""
    shift = datetime.timedelta(days=days)
    for event in Event.objects.filter(customer=customer):
        Event.objects.filter(pk=event.pk).update(occurred_at=event.occurred_at - shift)
    intent = dict(customer.intent)
    computed = datetime.datetime.fromisoformat(intent["computed_at"].replace("Z", "+00:00"))
    intent["computed_at"] = (computed - shift).isoformat()
    if intent.get("fired_at"):
        fired = datetime.datetime.fromisoformat(intent["fired_at"].replace("Z", "+00:00"))
        intent["fired_at"] = (fired - shift).isoformat()
    Customer.objects.filter(pk=customer.pk).update(intent=intent)


def test_a_score_fades_between_events_and_its_explanation_with_it(post_track):
    for _ in range(3):
        post_track(page("/pricing"), ip=HOME_IP)
    customer = Customer.objects.get()
    assert customer.intent_score == 24
    _age(customer, 7)
    assert intent_decay() == 1
    customer.refresh_from_db()
    assert customer.intent_score == 12  # a week: half
    assert customer.intent["parts"][0]["text"] == "pricing ×3: +12"
    assert intent_decay() == 0  # just computed: not again before 6 hours


def test_a_recent_score_is_left_alone(post_track):
    post_track(page("/pricing"), ip=HOME_IP)
    before = Customer.objects.get().intent
    assert intent_decay(now=timezone.now() + datetime.timedelta(hours=5)) == 0
    assert Customer.objects.get().intent == before


def _high_intent(post_track) -> Customer:
    for path in ("/pricing", "/pricing", "/pricing", "/demo", "/contact", "/booking", "/pricing", "/demo"):
        post_track(page(path), ip=HOME_IP)
    post_track({"event": "widget_opened", "visitor_id": "visitor-keen", "session_id": "s-1"}, ip=HOME_IP)
    for _ in range(2):
        post_track({"event": "message_sent", "visitor_id": "visitor-keen", "session_id": "s-1"}, ip=HOME_IP)
    customer = Customer.objects.get()
    assert (customer.intent_score or 0) >= 70 and customer.intent["armed"] is False
    return customer


def test_fading_below_50_re_arms_the_moment_without_firing_it(post_track, moments):
    customer = _high_intent(post_track)
    assert len(moments) == 1
    _age(customer, 10)
    intent_decay()
    customer.refresh_from_db()
    assert (customer.intent_score or 0) < 50 and customer.intent["armed"] is True
    assert Event.objects.filter(event="high_intent_visitor").count() == 1 and len(moments) == 1


def test_thirty_days_after_firing_it_re_arms_and_fires_on_the_next_event_only(post_track, tenant, moments):
    customer = _high_intent(post_track)
    # Still keen (signals fresh), but the moment fired 31 days ago.
    intent = dict(customer.intent, fired_at=(timezone.now() - datetime.timedelta(days=31)).isoformat())
    intent["computed_at"] = (timezone.now() - datetime.timedelta(hours=7)).isoformat()
    Customer.objects.filter(pk=customer.pk).update(intent=intent)
    intent_decay()
    customer.refresh_from_db()
    assert (customer.intent_score or 0) >= 70 and customer.intent["armed"] is True
    assert len(moments) == 1  # beat never fires it
    post_track(page("/pricing"), ip=HOME_IP)
    assert len(moments) == 2 and Event.objects.filter(event="high_intent_visitor").count() == 2


def test_each_workspace_is_rescored_with_its_own_weights_and_nothing_else_changes(post_track, tenant, other_tenant):
    enrichment_settings_update(
        workspace=tenant.workspace,
        provider="offline",
        page_weights=[{"label": "careers", "pattern": "^/careers", "points": 20}],
    )
    post_track(page("/careers/x"), ip=HOME_IP)
    post_track(page("/careers/x", visitor="visitor-other"), ip=HOME_IP, key=other_tenant.write_key)
    ours = Customer.objects.get(workspace=tenant.workspace)
    theirs = Customer.objects.get(workspace=other_tenant.workspace)
    assert (ours.intent_score, theirs.intent_score) == (20, 1)
    _age(ours, 7)
    before = Customer.objects.get(pk=theirs.pk).intent
    assert intent_decay() == 1
    assert Customer.objects.get(pk=ours.pk).intent_score == 10  # their weights, decayed a week
    assert Customer.objects.get(pk=theirs.pk).intent == before  # computed just now: untouched


def test_beat_runs_the_decay_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["enrichment-intent-decay"]
    assert entry["task"] == tasks.intent_decay_task.name
