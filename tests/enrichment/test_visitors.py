"""Analytics → Visitors, its CSV export, GET /api/visitors and Settings → Enrichment."""

import csv
import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from enrichment.models import EnrichmentSettings
from enrichment.services import enrichment_settings_update
from identity.models import Customer
from tests.enrichment.helpers import held
from workspaces.models import AuditLog, Membership, Role

OFFICE_IP = "193.99.144.80"  # Plus.line AG
OFFICE2_IP = "17.253.144.10"  # Apple Engineering: another business network
HOME_IP = "73.1.2.3"


def _visit(post_track, visitor, paths, ip, session="s-1"):
    for path in paths:
        post_track(
            {"event": "page_view", "visitor_id": visitor, "session_id": session, "url": f"https://acme.test{path}"},
            ip=ip,
        )


@pytest.fixture
def visitors(post_track):
    _visit(post_track, "visitor-ana", ["/pricing", "/pricing", "/demo"], OFFICE_IP)
    _visit(post_track, "visitor-ana", ["/contact"], OFFICE_IP, session="s-2")
    _visit(post_track, "visitor-bo", ["/blog"], OFFICE_IP)
    _visit(post_track, "visitor-cy", ["/pricing"], OFFICE2_IP)
    _visit(post_track, "visitor-di", ["/pricing", "/demo"], HOME_IP)
    return {held(c.company_profile).get("name", "") + ":" + str(c.intent_score): c for c in Customer.objects.all()}


def _page(client, tenant, **params):
    client.force_login(tenant.owner)
    return client.get(f"/w/{tenant.workspace.slug}/visitors/", params)


def test_visitors_grouped_by_company_with_pages_visits_and_score(client, tenant, visitors):
    response = _page(client, tenant)
    assert response.status_code == 200
    groups = response.context["groups"]
    assert [g.name for g in groups] == ["Plus.line AG", "Apple Engineering"]  # by top score
    ana, bo = groups[0].visitors
    assert (ana.pages, ana.visits, bo.pages, bo.visits) == (4, 2, 1, 1)
    assert ana.customer.intent_score > bo.customer.intent_score
    assert [held(row.customer.company_profile).get("name") for row in response.context["people"]] == [None]
    html = response.content.decode()
    assert "People without a company" in html and "Plus.line AG" in html


def test_filters_and_sort(client, tenant, visitors):
    scores = sorted(c.intent_score or 0 for c in Customer.objects.all())
    high = _page(client, tenant, min_score=scores[-1]).context
    assert sum(len(g.visitors) for g in high["groups"]) + len(high["people"]) == 1
    by_country = _page(client, tenant, country="us").context
    assert [g.name for g in by_country["groups"]] == ["Apple Engineering"] and by_country["people"] == []
    by_source = _page(client, tenant, source="offline").context
    assert len(by_source["groups"]) == 2
    assert _page(client, tenant, sort="nonsense").status_code == 400
    assert _page(client, tenant, min_score="lots").status_code == 400
    assert _page(client, tenant, days="3").status_code == 400


def test_period(client, tenant, visitors):
    Customer.objects.filter(intent_score__lt=10).update(last_seen=timezone.now() - datetime.timedelta(days=10))
    recent = _page(client, tenant).context
    month = _page(client, tenant, days="30").context
    assert recent["total"] < month["total"] == 4


def test_csv_export(client, tenant, visitors):
    response = _page(client, tenant, format="csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    top = rows[0]
    assert (top["company"], top["pages"], top["visits"], top["company_source"]) == ("Plus.line AG", "4", "2", "offline")
    assert int(top["intent_score"]) == max(int(r["intent_score"]) for r in rows)


def test_csv_cells_cannot_be_formulas(client, tenant, visitors):
    Customer.objects.filter(company_profile__name="Apple Engineering").update(name="=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO(b"".join(_page(client, tenant, format="csv").streaming_content).decode())))
    assert any(cell == "'=HYPERLINK(1)" for row in rows for cell in row)


def test_other_workspaces_visitors_are_not_shown(client, tenant, other_tenant, visitors):
    client.force_login(other_tenant.owner)
    assert client.get(f"/w/{tenant.workspace.slug}/visitors/").status_code == 404
    response = client.get(f"/w/{other_tenant.workspace.slug}/visitors/")
    assert response.context["groups"] == [] and response.context["people"] == []


def _api(key):
    client = Client(headers={"Authorization": f"Bearer {key}"})
    return lambda **params: client.get("/api/visitors", params)


def test_api_visitors_since_and_min_score(tenant, visitors):
    get = _api(tenant.secret_key)
    since = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    body = get(since=since).json()
    assert len(body["results"]) == 4 and body["next"] is None
    scores = [r["intent_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["results"][0]["company"]["name"] == "Plus.line AG"
    keen = get(since=since, min_score=scores[1]).json()["results"]
    assert [r["intent_score"] for r in keen] == scores[:2]
    page = get(since=since, limit=3).json()
    assert len(page["results"]) == 3 and "offset=3" in page["next"]
    rest = Client(headers={"Authorization": f"Bearer {tenant.secret_key}"}).get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert get(since=future).json()["results"] == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "Missing since"),
        ({"since": "yesterday"}, "ISO 8601"),
        ({"since": "2026-01-01", "min_score": "101"}, "min_score"),
    ],
)
def test_api_visitors_bad_parameters(tenant, params, named):
    response = _api(tenant.secret_key)(**params)
    assert response.status_code == 400 and named in response.json()["error"]


def test_api_visitors_other_workspace_and_no_key(tenant, other_tenant, visitors):
    since = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    assert _api(other_tenant.secret_key)(since=since).json()["results"] == []
    assert _api(None)(since=since).status_code == 401


def test_settings_page_saves_provider_key_and_weights(client, tenant):
    client.force_login(tenant.owner)
    url = f"/w/{tenant.workspace.slug}/settings/enrichment/"
    page = client.get(url)
    assert page.status_code == 200 and "pricing | pricing|plans|price | 8" in page.content.decode()
    response = client.post(
        url,
        {
            "provider": "ipinfo",
            "api_key": "tok_123",
            "person_enrichment": "default",
            "page_weights": "pricing | pricing | 10\ncareers | ^/jobs | 2",
        },
    )
    assert response.status_code == 302
    config = EnrichmentSettings.objects.get(workspace=tenant.workspace)
    assert (config.provider, config.api_key) == ("ipinfo", "tok_123")
    assert "tok_123" not in config.api_key_encrypted  # encrypted at rest
    assert [w["label"] for w in config.page_weights or []] == ["pricing", "careers"]
    assert AuditLog.objects.filter(workspace=tenant.workspace, action="enrichment.settings").exists()
    assert "tok_123" not in client.get(url).content.decode()


def test_settings_page_refuses_bad_weights_and_members(client, tenant):
    client.force_login(tenant.owner)
    url = f"/w/{tenant.workspace.slug}/settings/enrichment/"
    bad = client.post(url, {"provider": "offline", "person_enrichment": "default", "page_weights": "pricing | ( | 5"})
    assert bad.status_code == 400 and "not a valid regular expression" in bad.content.decode()
    assert not EnrichmentSettings.objects.exists()
    member = User.objects.create_user("member-enrich", "member@acme.test", "x")
    Membership.objects.create(workspace=tenant.workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    ok = {"provider": "ipinfo", "api_key": "x", "person_enrichment": "on", "page_weights": "a | a | 1"}
    assert client.post(url, ok).status_code == 403
    assert not EnrichmentSettings.objects.exists()


def test_settings_page_shows_usage(client, tenant, post_track, provider_server):
    provider_server.respond = lambda seen: (
        200,
        {"company": {"name": "Heise", "domain": "heise.de", "type": "business"}},
    )
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="k")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        _visit(post_track, "visitor-a1", ["/"], OFFICE_IP)
        _visit(post_track, "visitor-a2", ["/"], OFFICE_IP)
    client.force_login(tenant.owner)
    html = client.get(f"/w/{tenant.workspace.slug}/settings/enrichment/").content.decode()
    assert "50% (1 of 2)" in html
