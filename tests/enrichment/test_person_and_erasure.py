"""Person fields from an email only (BYOK, off by default in the EU); company data erased with the person."""

from urllib.parse import urlencode

from django.test import override_settings
from django.urls import reverse

from enrichment.services import enrichment_settings_update
from identity.models import Customer
from identity.privacy.erasure import subject_erase
from identity.privacy.exports import subject_entries
from identity.privacy.subjects import subject_get
from identity.privacy.tokens import preferences_token
from tests.enrichment.helpers import held
from tests.factories import make_workspace

OFFICE_IP = "193.99.144.80"


def _pdl_person(seen):
    assert seen.path == "/v5/person/enrich"
    assert seen.headers["x-api-key"] == "pdl-key"
    assert seen.query == {"email": ["kim@heise.test"]}
    return 200, {
        "status": 200,
        "likelihood": 9,
        "data": {"full_name": "kim lee", "job_title": "head of growth", "linkedin_url": "linkedin.com/in/kimlee"},
    }


def _identify(post_track, key=None):
    post_track(
        {"event": "identify", "visitor_id": "visitor-kim", "properties": {"email": "kim@heise.test"}},
        ip=OFFICE_IP,
        key=key,
    )


def test_person_fields_from_the_email_outside_the_eu(post_track, provider_server):
    workspace, _, write_key, _ = make_workspace("US Shop", region="us")
    provider_server.respond = _pdl_person
    enrichment_settings_update(workspace=workspace, provider="offline", person_api_key="pdl-key")
    with override_settings(CLARM_PDL_API_URL=provider_server.url, CLARM_REGION="us"):
        _identify(post_track, key=write_key)
    person = held(Customer.objects.get(workspace=workspace).person_profile)
    assert (person["name"], person["title"], person["linkedin"]) == (
        "kim lee",
        "head of growth",
        "https://linkedin.com/in/kimlee",
    )
    assert len(provider_server.requests) == 1


def test_person_enrichment_is_off_by_default_in_the_eu(post_track, tenant, provider_server):
    provider_server.respond = _pdl_person
    enrichment_settings_update(workspace=tenant.workspace, provider="offline", person_api_key="pdl-key")
    with override_settings(CLARM_PDL_API_URL=provider_server.url):
        _identify(post_track)
        assert provider_server.requests == [] and Customer.objects.get().person_profile is None
        enrichment_settings_update(workspace=tenant.workspace, provider="offline", person_enrichment=True)
        _identify(post_track)
    assert len(provider_server.requests) == 1
    assert held(Customer.objects.get().person_profile)["name"] == "kim lee"


def test_never_a_person_from_an_ip(post_track, tenant, provider_server):
    provider_server.respond = _pdl_person
    enrichment_settings_update(
        workspace=tenant.workspace, provider="offline", person_api_key="pdl-key", person_enrichment=True
    )
    with override_settings(CLARM_PDL_API_URL=provider_server.url):
        post_track({"event": "page_view", "visitor_id": "visitor-anon"}, ip=OFFICE_IP)
    assert provider_server.requests == []  # no email given: nobody is asked about this person


def test_company_and_intent_are_exported_and_erased_with_the_person(post_track, tenant):
    post_track({"event": "page_view", "visitor_id": "visitor-kim", "url": "https://acme.test/pricing"}, ip=OFFICE_IP)
    _identify(post_track)
    customer = Customer.objects.get()
    assert held(customer.company_profile)["name"] == "Plus.line AG" and customer.intent_score
    subject = subject_get(workspace=tenant.workspace, customer=customer)
    profile = next(e for e in subject_entries(subject, "json") if e.name == "profile.json")
    assert {"company_profile", "person_profile", "intent_score", "intent"} <= set(profile.fields)
    row = dict(zip(profile.fields, next(iter(profile.rows())), strict=True))
    assert "Plus.line AG" in row["company_profile"]
    subject_erase(workspace=tenant.workspace, customer=customer)
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Customer.objects.filter(company_profile__name="Plus.line AG").exists()


def test_preferences_page_shows_the_company_data_held(client, post_track, tenant):
    post_track({"event": "page_view", "visitor_id": "visitor-kim", "url": "https://acme.test/pricing"}, ip=OFFICE_IP)
    customer = Customer.objects.get()
    Customer.objects.filter(pk=customer.pk).update(
        person_profile={"name": "kim lee", "title": "head of growth", "checked_at": "2026-12-01T00:00:00Z"}
    )
    url = reverse("privacy:preferences_token", kwargs={"token": preferences_token(customer)})
    html = client.get(url).content.decode()
    assert "Plus.line AG" in html and "from the network you visited from (offline)" in html
    assert "kim lee, head of growth" in html
    assert f"Interest score</dt><dd>{customer.intent_score} / 100" in html.replace("\n", "")
    # The device's own link shows nothing of the person, company included.
    device_html = client.get(
        f"{reverse('privacy:preferences')}?{urlencode({'key': tenant.write_key, 'vid': 'visitor-kim'})}"
    ).content.decode()
    assert "Plus.line AG" not in device_html


def test_a_failing_person_provider_is_retried_after_an_hour_not_at_every_event(post_track, tenant, provider_server):
    provider_server.respond = lambda seen: (500, {"error": "down"})
    enrichment_settings_update(
        workspace=tenant.workspace, provider="offline", person_api_key="pdl-key", person_enrichment=True
    )
    with override_settings(CLARM_PDL_API_URL=provider_server.url):
        _identify(post_track)
        post_track({"event": "page_view", "visitor_id": "visitor-kim"}, ip=OFFICE_IP)
        assert len(provider_server.requests) == 1
        customer = Customer.objects.get()
        profile = held(customer.person_profile)
        assert "failed_at" in profile and "name" not in profile
        Customer.objects.update(person_profile={"failed_at": "2000-01-01T00:00:00Z"})
        provider_server.respond = _pdl_person
        post_track({"event": "page_view", "visitor_id": "visitor-kim"}, ip=OFFICE_IP)
    assert len(provider_server.requests) == 2
    assert held(Customer.objects.get().person_profile)["name"] == "kim lee"
