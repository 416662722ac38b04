"""Intent score: explained, current after each event, and the high_intent_visitor moment."""

import datetime

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from enrichment import intent, services
from enrichment.models import EnrichmentSettings
from enrichment.scoring import BadWeights, Signal, enterprise_score, intent_compute
from enrichment.services import enrichment_settings_update, events_enrich_and_score
from identity.models import Customer
from tests.enrichment.helpers import page
from tracking.models import Event

HOME_IP = "73.1.2.3"  # residential: no company part in the score
OFFICE_IP = "193.99.144.80"  # business network: enterprise score 30 → +4.5


def _keen() -> Customer:
    return Customer.objects.get()


def test_score_is_current_after_each_event_and_explained(post_track):
    for _ in range(3):
        post_track(page("/pricing"), ip=HOME_IP)
    customer = _keen()
    assert customer.intent_score == 24
    assert customer.intent["parts"][0]["text"] == "pricing ×3: +24"
    post_track(page("/blog/hello"), ip=HOME_IP)
    customer = _keen()
    assert customer.intent_score == 25
    assert [p["text"] for p in customer.intent["parts"]] == ["pricing ×3: +24", "other pages: +1"]


def test_customer_page_shows_score_reasons_and_company(post_track, client, tenant):
    for path in ("/pricing", "/pricing", "/demo"):
        post_track(page(path), ip=OFFICE_IP)
    client.force_login(tenant.owner)
    customer = _keen()
    html = client.get(f"/w/{tenant.workspace.slug}/customers/{customer.pk}/").content.decode()
    assert "pricing ×2: +16" in html and "demo: +8" in html
    assert "company profile (30/100): +4" in html  # 30 × 0.15 = 4.5, shown rounded
    assert "Plus.line AG" in html and "offline" in html


def _signals_to(post_track, ip: str = OFFICE_IP) -> None:
    # pricing ×3 (24) + demo (8) + contact (7) + widget opened (5) + 2 messages (16) + company (4.5) = 64.5
    for path in ("/pricing", "/pricing", "/pricing", "/demo", "/contact"):
        post_track(page(path), ip=ip)
    post_track({"event": "widget_opened", "visitor_id": "visitor-keen", "session_id": "s-1"}, ip=ip)
    for _ in range(2):
        post_track({"event": "message_sent", "visitor_id": "visitor-keen", "session_id": "s-1"}, ip=ip)


def test_crossing_70_fires_high_intent_visitor_once(post_track, tenant, moments):
    _signals_to(post_track)
    assert _keen().intent_score == 64 and moments == []
    # Giving an email lifts the rung to 2 (+6): 70.5 → 70, over the line.
    post_track({"event": "identify", "visitor_id": "visitor-keen", "properties": {"email": "kim@heise.test"}})
    customer = _keen()
    assert customer.intent_score == 70
    fired = Event.objects.get(event="high_intent_visitor")
    assert (fired.customer_id, fired.source, fired.rung) == (customer.pk, "agent", 2)
    assert fired.properties["score"] == 70 and "pricing ×3: +24" in fired.properties["reasons"]
    assert [(m.customer_id, m.event_id, m.score) for m in moments] == [(customer.pk, fired.pk, 70)]
    timeline = (
        Client()
        .get(f"/api/customers/{customer.pk}/timeline", headers={"Authorization": f"Bearer {tenant.secret_key}"})
        .json()["results"]
    )
    assert timeline[-1]["title"] == "High-intent visitor: intent score crossed 70"
    post_track(page("/pricing"), ip=OFFICE_IP)  # still above 70: not again
    assert (_keen().intent_score or 0) > 70
    assert Event.objects.filter(event="high_intent_visitor").count() == 1 and len(moments) == 1


def test_re_armed_below_50_then_fires_again(post_track, moments):
    _signals_to(post_track)
    post_track({"event": "identify", "visitor_id": "visitor-keen", "properties": {"email": "kim@heise.test"}})
    assert len(moments) == 1
    # A month later the signals weigh a sixteenth: the score falls below 50 and the moment re-arms.
    month_ago = timezone.now() - datetime.timedelta(days=28)
    Event.objects.filter(event__in=("page_view", "widget_opened", "message_sent")).update(occurred_at=month_ago)
    post_track(page("/about"), ip=OFFICE_IP)
    customer = _keen()
    assert (customer.intent_score or 0) < 50 and customer.intent["armed"] is True
    _signals_to(post_track)
    assert (_keen().intent_score or 0) >= 70
    assert Event.objects.filter(event="high_intent_visitor").count() == 2 and len(moments) == 2


def test_re_armed_30_days_after_it_fired(post_track, moments):
    _signals_to(post_track)
    post_track({"event": "identify", "visitor_id": "visitor-keen", "properties": {"email": "kim@heise.test"}})
    customer = _keen()
    intent = dict(customer.intent, fired_at=(timezone.now() - datetime.timedelta(days=31)).isoformat())
    Customer.objects.filter(pk=customer.pk).update(intent=intent)
    post_track(page("/pricing"), ip=OFFICE_IP)
    assert len(moments) == 2


def test_owner_edits_page_weights(post_track, tenant):
    enrichment_settings_update(
        workspace=tenant.workspace,
        provider="offline",
        page_weights=[{"label": "careers", "pattern": "^/careers", "points": 20}],
    )
    post_track(page("/careers/engineer"), ip=HOME_IP)
    post_track(page("/pricing"), ip=HOME_IP)  # not a pattern any more: an ordinary page
    assert [p["text"] for p in _keen().intent["parts"]] == ["careers: +20", "other pages: +1"]


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        ([{"label": "x", "pattern": "(", "points": 5}], "not a valid regular expression"),
        ([{"label": "x", "pattern": "a", "points": 500}], "from 0 to 50"),
        ([{"label": "", "pattern": "a", "points": 5}], "needs a label"),
        ([{"label": "x", "pattern": "a", "points": "lots"}], "must be a number"),
        ([], "at least one"),
    ],
)
def test_bad_weights_are_refused_with_the_reason_and_nothing_saved(tenant, weights, named):
    with pytest.raises(BadWeights, match=named):
        enrichment_settings_update(workspace=tenant.workspace, provider="offline", page_weights=weights)
    assert not EnrichmentSettings.objects.filter(workspace=tenant.workspace).exists()


def test_recency_halves_a_signal_every_7_days():
    now = timezone.now()
    fresh = intent_compute(
        signals=[Signal("page_view", now, "/pricing")], page_weights=None, enterprise_score=None, rung=0, now=now
    )
    week = intent_compute(
        signals=[Signal("page_view", now - datetime.timedelta(days=7), "/pricing")] * 2,
        page_weights=None,
        enterprise_score=None,
        rung=0,
        now=now,
    )
    assert fresh.score == 8 and week.score == 8  # two views a week old weigh one fresh view
    capped = intent_compute(
        signals=[Signal("page_view", now, "/pricing")] * 50, page_weights=None, enterprise_score=100, rung=4, now=now
    )
    assert capped.score == 87  # pages capped at 60, + 15 company, + 12 rung


def test_enterprise_score_formula():
    assert enterprise_score({}) is None
    assert enterprise_score({"name": "Tiny", "size": "1-10"}) == 6
    assert enterprise_score({"name": "Big", "size": "10001+", "revenue_range": "$1B+", "domain": "big.test"}) == 97
    assert enterprise_score({"name": "Mid", "size": "51-200", "revenue_range": "$10M-$25M"}) == 38


def test_nothing_before_consent_with_an_opt_out_or_with_gpc(post_track, tenant):
    # Before consent the snippet sends no device id: counted, not stitched, not enriched.
    post_track({"event": "page_view", "url": "https://acme.test/pricing"}, ip=OFFICE_IP)
    assert not Customer.objects.exists()
    post_track(page("/pricing", visitor="visitor-gpc"), ip=OFFICE_IP)
    customer = Customer.objects.get()
    Customer.objects.update(company_profile=None, intent_score=None, intent={})
    event = Event.objects.get(customer=customer)
    Event.objects.filter(pk=event.pk).update(context={**event.context, "gpc": True})
    assert events_enrich_and_score(workspace_id=tenant.workspace.pk, event_ids=[event.pk]) == 0
    Event.objects.filter(pk=event.pk).update(context={k: v for k, v in event.context.items() if k != "gpc"})
    Customer.objects.update(allow_analytics=False)
    assert events_enrich_and_score(workspace_id=tenant.workspace.pk, event_ids=[event.pk]) == 0
    customer.refresh_from_db()
    assert (customer.company_profile, customer.intent_score) == (None, None)


def test_another_workspaces_events_are_not_processed(post_track, tenant, other_tenant):
    post_track(page("/pricing"), ip=OFFICE_IP)
    Customer.objects.update(company_profile=None, intent_score=None, intent={})
    ids = list(Event.objects.values_list("id", flat=True))
    assert events_enrich_and_score(workspace_id=other_tenant.workspace.pk, event_ids=ids) == 0
    assert Customer.objects.get().intent_score is None and Customer.objects.get().company_profile is None


def test_read_api_has_intent_score_and_company(post_track, tenant):
    for path in ("/pricing", "/demo"):
        post_track(page(path), ip=OFFICE_IP)
    customer = _keen()
    body = (
        Client().get(f"/api/customers/{customer.pk}", headers={"Authorization": f"Bearer {tenant.secret_key}"}).json()
    )
    assert body["intent_score"] == 20  # 8 + 8 + 4.5 → 20
    company = body["company"]
    assert set(company) == {
        "name",
        "domain",
        "industry",
        "size",
        "revenue_range",
        "location",
        "enterprise_score",
        "source",
        "updated_at",
    }
    assert (company["name"], company["enterprise_score"], company["source"]) == ("Plus.line AG", 30, "offline")
    assert company["updated_at"]


def test_residential_visitor_has_no_company_in_the_api(post_track, tenant):
    post_track(page("/pricing"), ip=HOME_IP)
    customer = _keen()
    body = (
        Client().get(f"/api/customers/{customer.pk}", headers={"Authorization": f"Bearer {tenant.secret_key}"}).json()
    )
    assert body["company"] is None and body["intent_score"] == 8


def test_the_score_does_not_wait_for_the_company_provider(post_track, tenant, monkeypatch, provider_server):
    provider_server.respond = lambda seen: (
        200,
        {"ip": "193.99.144.1", "country": "DE", "company": {"name": "Heise", "domain": "heise.de", "type": "business"}},
    )
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    seen_scores = []
    real = services.networks_ask

    def provider_side(**kwargs):
        seen_scores.append(Customer.objects.get().intent_score)  # already scored when the provider is asked
        return real(**kwargs)

    monkeypatch.setattr(services, "networks_ask", provider_side)
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        post_track(page("/pricing"), ip=OFFICE_IP)
    assert seen_scores == [8] and len(provider_server.requests) == 1
    assert _keen().intent_score == 14  # rescored once the company (enterprise 40 → +6) was known


def test_a_company_known_without_a_provider_call_counts_in_the_first_score(post_track, monkeypatch):
    asked: list[dict] = []

    def ask(**kwargs):
        asked.append(kwargs)
        return {}

    monkeypatch.setattr(services, "networks_ask", ask)
    post_track(page("/pricing"), ip=OFFICE_IP)  # offline: the ASN names the company
    customer = _keen()
    assert customer.intent_score == 12 and "company profile (30/100): +4" in [
        p["text"] for p in customer.intent["parts"]
    ]
    assert asked == []


def test_only_the_latest_signals_of_each_person_count(post_track, monkeypatch):
    monkeypatch.setattr(intent, "MAX_SIGNALS", 2)
    for path in ("/pricing", "/pricing", "/pricing"):
        post_track(page(path), ip=HOME_IP)
    post_track(page("/demo", visitor="visitor-other"), ip=HOME_IP)
    scores = dict(Customer.objects.values_list("intent__parts__0__text", "intent_score"))
    assert scores == {"pricing ×2: +16": 16, "demo: +8": 8}


def test_the_database_sums_signals_as_the_formula_weighs_them(tenant):
    """The score of a person's stored events (summed with their recency in SQL) equals the formula
    applied to the same signals one by one, at every age (and a clock-skewed future event weighs 1)."""
    now = timezone.now()
    customer = Customer.objects.create(workspace=tenant.workspace)
    ages = [-1.0, 0.0, 0.5, 3.5, 7.0, 13.0, 29.0, 60.0]
    signals = []
    for n, days in enumerate(ages):
        at = now - datetime.timedelta(days=days)
        path = ("/pricing", "/demo", "/blog/x")[n % 3]
        kind = "message_sent" if n == 5 else "page_view"
        Event.objects.create(
            workspace=tenant.workspace,
            customer=customer,
            event=kind,
            occurred_at=at,
            context={"url": f"https://acme.test{path}"},
        )
        signals.append(Signal(kind, at, f"https://acme.test{path}"))
    outcome = intent.customer_intent_refresh(customer_id=customer.pk, config=None, now=now)
    assert outcome is not None
    expected = intent_compute(signals=signals, page_weights=None, enterprise_score=None, rung=0, now=now)
    assert outcome.result.score == expected.score == 29
    assert [(p.label, p.count, round(p.points, 6)) for p in outcome.result.parts] == [
        (p.label, p.count, round(p.points, 6)) for p in expected.parts
    ]
