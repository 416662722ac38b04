"""Company-reveal providers Snitcher and Dealfront (BYOK), against local servers that check the
documented request shapes; their answers stay in the workspace that paid for them."""

from django.test import override_settings

from enrichment.models import EnrichmentUsage, NetworkAnswer
from enrichment.services import enrichment_settings_update
from identity.models import Customer
from tests.enrichment.helpers import held

OFFICE_IP = "193.99.144.80"  # a business network (offline: Plus.line AG); asked about as 193.99.144.1


def _snitcher_company(seen):
    # POST /company/find?ip=…, the key as a bearer token (docs.snitcher.com/ip2company)
    assert (seen.method, seen.path, seen.query) == ("POST", "/company/find", {"ip": ["193.99.144.1"]})
    assert seen.headers["authorization"] == "Bearer snitch-key"
    assert seen.headers["accept"] == "application/json"
    return 200, {
        "ip": "193.99.144.1",
        "fuzzy": False,
        "domain": "heise.de",
        "type": "business",
        "company": {
            "name": "Heise Medien",
            "domain": "heise.de",
            "website": "https://heise.de",
            "industry": "Online Media",
            "founded_year": "1949",
            "employee_range": "501-1000 employees",
            "annual_revenue": 150000000,
            "total_funding": None,
            "location": "Karl-Wiechert-Allee 10, 30625 Hannover, Germany",
        },
    }


def _dealfront_company(seen):
    # GET /companies?ip=…, the key in X-API-KEY (docs.leadfeeder.com/connectors/ip-enrich-api)
    assert (seen.method, seen.path, seen.query) == ("GET", "/companies", {"ip": ["193.99.144.1"]})
    assert seen.headers["x-api-key"] == "lf-key"
    return 200, {
        "id": "c4a8f0e2",
        "ip_address": "193.99.144.1",
        "confidence_score": "high",
        "company": {
            "name": "Heise Medien GmbH & Co. KG",
            "domain": "heise.de",
            "revenue": {"year": 2024, "amount": 150000000},
            "employees_range": {"min": 501, "max": 1000},
            "industries": {"name": "Publishing", "sic": ["2721"], "naics": ["513120"]},
        },
        "location": {"city": "Hannover", "region": "Lower Saxony", "country_code": "DE"},
    }


def test_snitcher_names_the_company_with_its_size_and_revenue(post_track, tenant, provider_server):
    provider_server.respond = _snitcher_company
    enrichment_settings_update(workspace=tenant.workspace, provider="snitcher", api_key="snitch-key")
    with override_settings(CLARM_SNITCHER_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a", "url": "https://acme.test/pricing"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip="193.99.144.81")  # same /24: cached
    assert len(provider_server.requests) == 1
    for customer in Customer.objects.all():
        company = held(customer.company_profile)
        assert (company["name"], company["domain"], company["source"]) == ("Heise Medien", "heise.de", "snitcher")
        assert (company["industry"], company["size"], company["revenue_range"]) == (
            "Online Media",
            "501-1000 employees",
            "$150,000,000",
        )
        # 0.6 × 70 (≤1,000 employees) + 0.3 × 70 (≤$250M) + 10 (domain) = 73
        assert company["enterprise_score"] == 73
    assert NetworkAnswer.objects.get().workspace_id == tenant.workspace.pk


def test_snitcher_still_enriching_keeps_the_offline_answer_for_the_error_ttl(post_track, tenant, provider_server):
    provider_server.respond = lambda seen: (202, {"status": 202, "message": "Queued for enrichment."})
    enrichment_settings_update(workspace=tenant.workspace, provider="snitcher", api_key="snitch-key")
    with override_settings(CLARM_SNITCHER_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip=OFFICE_IP)
    assert len(provider_server.requests) == 1
    assert "queued" in NetworkAnswer.objects.get().error
    assert {held(c.company_profile)["source"] for c in Customer.objects.all()} == {"offline"}
    usage = EnrichmentUsage.objects.get(workspace=tenant.workspace)
    assert (usage.provider_calls, usage.provider_errors) == (1, 1)


def test_snitcher_isp_answer_gives_no_company(post_track, tenant, provider_server):
    provider_server.respond = lambda seen: (200, {"ip": "193.99.144.1", "type": "isp", "domain": "telekom.de"})
    enrichment_settings_update(workspace=tenant.workspace, provider="snitcher", api_key="snitch-key")
    with override_settings(CLARM_SNITCHER_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
    profile = held(Customer.objects.get().company_profile)
    assert profile["network"]["class"] == "isp" and "name" not in profile


def test_dealfront_names_the_company_and_keeps_it_in_the_workspace(post_track, tenant, other_tenant, provider_server):
    provider_server.respond = _dealfront_company
    enrichment_settings_update(workspace=tenant.workspace, provider="dealfront", api_key="lf-key")
    with override_settings(CLARM_DEALFRONT_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-z"}, ip=OFFICE_IP, key=other_tenant.write_key)
    assert len(provider_server.requests) == 1
    ours = held(Customer.objects.get(workspace=tenant.workspace).company_profile)
    assert (ours["name"], ours["source"], ours["size"], ours["revenue_range"]) == (
        "Heise Medien GmbH & Co. KG",
        "dealfront",
        "501-1000",
        "$150,000,000",
    )
    assert (ours["industry"], ours["location"], ours["country"]) == ("Publishing", "Hannover, Lower Saxony, DE", "DE")
    assert ours["enterprise_score"] == 73
    theirs = held(Customer.objects.get(workspace=other_tenant.workspace).company_profile)
    assert (theirs["name"], theirs["source"]) == ("Plus.line AG", "offline")  # not their purchase
    assert not EnrichmentUsage.objects.filter(workspace=other_tenant.workspace, provider_calls__gt=0).exists()


def test_dealfront_low_confidence_or_no_match_is_not_a_company(post_track, tenant, provider_server):
    answers = iter(
        [
            (200, {"confidence_score": "low", "company": {"name": "Maybe GmbH", "domain": "maybe.test"}}),
            (404, {"errors": [{"title": "Not found"}]}),
        ]
    )
    provider_server.respond = lambda seen: next(answers)
    enrichment_settings_update(workspace=tenant.workspace, provider="dealfront", api_key="lf-key")
    with override_settings(CLARM_DEALFRONT_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        NetworkAnswer.objects.all().delete()
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip=OFFICE_IP)
    assert len(provider_server.requests) == 2
    assert {held(c.company_profile)["source"] for c in Customer.objects.all()} == {"offline"}
    assert NetworkAnswer.objects.get().error == "not_found"
