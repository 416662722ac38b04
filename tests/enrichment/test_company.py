"""Company enrichment: offline from the ASN data, BYOK providers against local servers, the cache."""

import datetime

from django.test import override_settings
from django.utils import timezone

from enrichment.models import EnrichmentUsage, NetworkAnswer
from enrichment.providers.offline import network_classify, organisation_name
from enrichment.services import enrichment_settings_update
from identity.models import Customer
from tests.enrichment.helpers import held

OFFICE_IP = "193.99.144.80"  # Plus.line AG, a business network (its own /24)
HOME_IP = "73.1.2.3"  # Comcast: residential
MOBILE_IP = "172.58.1.1"  # T-Mobile USA
CLOUD_IP = "144.76.1.1"  # Hetzner: hosting


def _only_customer() -> Customer:
    return Customer.objects.get()


def test_offline_business_network_names_the_company(post_track):
    post_track({"event": "page_view", "visitor_id": "visitor-1", "url": "https://acme.test/"}, ip=OFFICE_IP)
    company = held(_only_customer().company_profile)
    assert company["name"] == "Plus.line AG"
    assert company["source"] == "offline"
    assert company["country"] == "DE"
    assert company["enterprise_score"] == 30  # unknown size (50 × 0.6), no revenue, no domain
    assert company["network"]["prefix"] == "193.99.144.0/24"
    assert company["network"]["class"] == "business"


def test_residential_mobile_and_hosting_networks_never_give_a_company(post_track):
    for n, ip in enumerate((HOME_IP, MOBILE_IP, CLOUD_IP)):
        post_track({"event": "page_view", "visitor_id": f"visitor-{n}"}, ip=ip)
    classes = sorted(held(c.company_profile)["network"]["class"] for c in Customer.objects.all())
    assert classes == ["hosting", "isp", "mobile"]
    assert all("name" not in held(c.company_profile) for c in Customer.objects.all())


def test_classification_and_names():
    assert network_classify(asn="Deutsche Telekom AG", network="62.156.0.0/14") == "isp"
    assert network_classify(asn="Vodafone GmbH", network="88.64.0.0/12") == "mobile"
    assert network_classify(asn="AMAZON-02", network="52.95.108.0/23") == "hosting"
    assert network_classify(asn="Leibniz-Rechenzentrum", network="129.187.0.0/16") == "education"
    assert network_classify(asn="ACME-CORP", network="198.51.100.0/24") == "business"
    # An organisation routing a block wider than a /16 serves the public, whatever its name.
    assert network_classify(asn="ACME-CORP", network="24.0.0.0/12") == "isp"
    assert network_classify(asn=None, network=None) == "unknown"
    assert organisation_name("SIEMENS-AG") == "Siemens AG"
    assert organisation_name("Plus.line AG") == "Plus.line AG"


def _ipinfo_company(seen):
    assert seen.headers["authorization"] == "Bearer ws-token"
    return 200, {
        "ip": seen.path.strip("/"),
        "city": "Hannover",
        "region": "Lower Saxony",
        "country": "DE",
        "asn": {
            "asn": "AS12306",
            "name": "Plus.line AG",
            "domain": "plusline.net",
            "route": "193.99.144.0/24",
            "type": "isp",
        },
        "company": {"name": "Heise Medien GmbH", "domain": "heise.de", "type": "business"},
    }


def test_byok_ipinfo_is_asked_once_per_network_and_the_answer_cached(post_track, tenant, provider_server):
    provider_server.respond = _ipinfo_company
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip="193.99.144.81")  # same /24
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)  # same person, same network
    assert [s.path for s in provider_server.requests] == ["/193.99.144.1"]  # the prefix, never the visitor's address
    for customer in Customer.objects.all():
        company = held(customer.company_profile)
        assert (company["name"], company["domain"], company["source"]) == ("Heise Medien GmbH", "heise.de", "ipinfo")
        assert company["location"] == "Hannover, Lower Saxony, DE"
        assert company["enterprise_score"] == 40  # unknown size 30 + domain 10
    usage = EnrichmentUsage.objects.get(workspace=tenant.workspace)
    assert (usage.lookups, usage.cache_hits, usage.provider_calls) == (2, 1, 1)
    answer = NetworkAnswer.objects.get()
    assert answer.workspace_id == tenant.workspace.pk  # bought with the workspace's key: stays there
    assert answer.expires_at - answer.fetched_at == datetime.timedelta(days=30)


def test_byok_answers_stay_in_their_workspace(post_track, tenant, other_tenant, provider_server):
    provider_server.respond = _ipinfo_company
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-z"}, ip=OFFICE_IP, key=other_tenant.write_key)
    theirs = held(Customer.objects.get(workspace=other_tenant.workspace).company_profile)
    assert theirs["source"] == "offline" and theirs["name"] == "Plus.line AG"  # not Heise: not their purchase
    assert len(provider_server.requests) == 1
    assert not EnrichmentUsage.objects.filter(workspace=other_tenant.workspace, provider_calls__gt=0).exists()


def _pdl_company(seen):
    assert seen.path == "/v5/ip/enrich"
    assert seen.headers["x-api-key"] == "deployment-key"
    return 200, {
        "status": 200,
        "data": {
            "ip": {"address": seen.query["ip"][0], "metadata": {"version": 4, "mobile": False, "hosting": False}},
            "company": {
                "confidence": "very high",
                "website": "heise.de",
                "name": "heise medien",
                "display_name": "Heise Medien",
                "size": "501-1000",
                "industry": "online media",
                "inferred_revenue": "$100M-$250M",
                "location": {"name": "hannover, lower saxony, germany", "country": "germany"},
            },
        },
    }


def test_deployment_key_fills_a_cache_shared_by_every_workspace(post_track, tenant, other_tenant, provider_server):
    provider_server.respond = _pdl_company
    shared = {"CLARM_ENRICHMENT_PROVIDER": "pdl", "CLARM_ENRICHMENT_API_KEY": "deployment-key"}
    with override_settings(CLARM_PDL_API_URL=provider_server.url, **shared):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-z"}, ip=OFFICE_IP, key=other_tenant.write_key)
    assert len(provider_server.requests) == 1
    assert provider_server.requests[0].query == {"ip": ["193.99.144.1"]}
    for customer in Customer.objects.all():
        company = held(customer.company_profile)
        assert company["name"] == "Heise Medien"
        banded = (company["industry"], company["size"], company["revenue_range"])
        assert banded == ("online media", "501-1000", "$100M-$250M")
        # 0.6 × 70 (≤1,000 employees) + 0.3 × 70 (≤$250M) + 10 (domain) = 73
        assert company["enterprise_score"] == 73
    assert NetworkAnswer.objects.get().workspace_id is None
    assert EnrichmentUsage.objects.get(workspace=other_tenant.workspace).cache_hits == 1


def test_no_match_is_cached_too_and_the_offline_answer_stands(post_track, tenant, provider_server):
    enrichment_settings_update(workspace=tenant.workspace, provider="pdl", api_key="k")
    with override_settings(CLARM_PDL_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip=OFFICE_IP)
    assert len(provider_server.requests) == 1  # the 404 was remembered
    assert NetworkAnswer.objects.get().error == "not_found"
    assert {held(c.company_profile)["source"] for c in Customer.objects.all()} == {"offline"}


def test_provider_error_is_retried_after_an_hour_not_at_every_event(post_track, tenant, provider_server):
    provider_server.respond = lambda seen: (503, {"error": "busy"})
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
        post_track({"event": "page_view", "visitor_id": "visitor-b"}, ip=OFFICE_IP)
        assert len(provider_server.requests) == 1
        usage = EnrichmentUsage.objects.get(workspace=tenant.workspace)
        assert (usage.provider_calls, usage.provider_errors) == (1, 1)
        assert Customer.objects.filter(company_profile__source="offline").count() == 2
        NetworkAnswer.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        provider_server.respond = _ipinfo_company
        post_track({"event": "page_view", "visitor_id": "visitor-c"}, ip=OFFICE_IP)
    assert len(provider_server.requests) == 2
    assert Customer.objects.filter(company_profile__source="ipinfo").count() == 1


def test_residential_networks_cost_no_provider_call(post_track, tenant, provider_server):
    provider_server.respond = _ipinfo_company
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        for n, ip in enumerate((HOME_IP, MOBILE_IP, CLOUD_IP)):
            post_track({"event": "page_view", "visitor_id": f"visitor-{n}"}, ip=ip)
    assert provider_server.requests == []


def test_ipinfo_mobile_carrier_gives_no_company(post_track, tenant, provider_server):
    provider_server.respond = lambda seen: (
        200,
        {
            "ip": "x",
            "carrier": {"name": "T-Mobile", "mcc": "310", "mnc": "260"},
            "company": {"name": "T-Mobile USA", "type": "isp"},
        },
    )
    enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="ws-token")
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-a"}, ip=OFFICE_IP)
    profile = held(_only_customer().company_profile)
    assert profile["network"]["class"] == "mobile" and "name" not in profile


def test_the_office_company_stays_when_the_person_visits_from_home(post_track):
    post_track({"event": "page_view", "visitor_id": "visitor-1"}, ip=OFFICE_IP)
    post_track({"event": "page_view", "visitor_id": "visitor-1"}, ip=HOME_IP)
    profile = held(_only_customer().company_profile)
    assert profile["name"] == "Plus.line AG"
    assert profile["network"]["prefix"] == "73.1.2.0/24" and profile["network"]["class"] == "isp"
    before = held(_only_customer().company_profile)["network"]["checked_at"]
    post_track({"event": "page_view", "visitor_id": "visitor-1"}, ip=HOME_IP)
    assert held(_only_customer().company_profile)["network"]["checked_at"] == before  # not looked up again
