"""CRMs get Clarm's fields (rung, customer number, first touch) as custom properties/fields, and a
person's marketing opt-outs as each CRM's subscription status; an opt-out also stops ad send-back.
Against one local server answering like HubSpot, Pipedrive, Salesforce and GoHighLevel."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from identity.models import Customer
from identity.privacy.services import preferences_update
from identity.privacy.tokens import unsubscribe_token
from integrations.destinations.models import DeliveryKind, DeliveryState, DestinationDelivery, DestinationStatus
from integrations.destinations.services import destination_create, destination_flush, destination_update
from tests.destinations.conftest import Reply, Seen

LABELS = ("Clarm rung", "Clarm customer number", "Clarm first-touch source", "Clarm first-touch campaign")
LANDING = "https://shop.example/?utm_source=news&utm_campaign=fall"


def make(tenant, provider_key, config, rules=None):
    return destination_create(
        workspace=tenant.workspace,
        provider=provider_key,
        name=provider_key,
        config=config,
        rules=rules or [{"on": "event", "event": "purchase"}],
        actor=tenant.owner,
    )


def buy(visitor, email, message_id=None):
    body = {"event": "purchase", "visitor_id": visitor, "properties": {"email": email, "amount": 9, "currency": "usd"}}
    if message_id:
        body["message_id"] = message_id
    return body


class Crms:
    """One local server speaking the four CRMs' APIs (only the paths Clarm uses)."""

    def __init__(self, provider, settings) -> None:
        self.provider = provider
        for name in ("HUBSPOT", "PIPEDRIVE", "SALESFORCE", "GOHIGHLEVEL"):
            setattr(settings, f"CLARM_{name}_API_URL", provider.url)
        provider.routes[""] = self.answer  # every path

    def answer(self, seen: Seen) -> Reply:
        path, method = seen.path, seen.method
        if path == "/crm/v3/objects/contacts/batch/upsert":
            return Reply(200, {"status": "COMPLETE", "results": [{"id": "9001"}]})
        if path.startswith("/crm/v3/objects/notes"):
            return Reply(201, {"id": "n1"})
        if path.startswith("/communication-preferences/v4/statuses/"):
            return Reply(200, {"status": "COMPLETE", "results": [{"channel": "EMAIL", "status": "UNSUBSCRIBED"}]})
        if path == "/v1/personFields":
            return Reply(200, {"success": True, "data": [{"key": f"pd{n}", "name": x} for n, x in enumerate(LABELS)]})
        if path == "/v1/persons/search":
            return Reply(200, {"success": True, "data": {"items": [{"item": {"id": 42}}]}})
        if path.startswith("/v1/persons"):
            return Reply(200, {"success": True, "data": {"id": 42}})
        if path == "/v1/activities":
            return Reply(201, {"success": True, "data": {"id": 7}})
        if path == "/services/oauth2/token":
            return Reply(200, {"access_token": "00D!tok", "instance_url": self.provider.url})
        if path.endswith("/query"):
            return Reply(200, {"totalSize": 1, "records": [{"Id": "00Q1"}]})
        if path.endswith("/sobjects/Task"):
            return Reply(201, {"id": "00T1", "success": True})
        if "/sobjects/Lead/" in path:
            return Reply(204, b"")
        if path.startswith("/locations/") and method == "GET":
            return Reply(200, {"customFields": [{"id": f"cf{n}", "name": x} for n, x in enumerate(LABELS)]})
        if path == "/contacts/upsert":
            return Reply(200, {"new": False, "contact": {"id": "ghl-1"}})
        if path.startswith("/contacts/"):
            return Reply(200, {"succeded": True, "contact": {"id": "ghl-1"}})
        return Reply(404, {"message": f"no route {method} {path}"})

    def since(self, start: int) -> list[Seen]:
        return self.provider.requests[start:]


@pytest.fixture
def crms(provider, settings):
    return Crms(provider, settings)


@pytest.fixture
def four(tenant, crms):
    return {
        "hubspot": make(tenant, "hubspot", {"token": "pat-1"}),
        "pipedrive": make(tenant, "pipedrive", {"api_token": "pd-1"}),
        "salesforce": make(tenant, "salesforce", {"client_id": "ck", "client_secret": "cs", "refresh_token": "rt"}),
        "gohighlevel": make(tenant, "gohighlevel", {"token": "pit-1", "location_id": "loc-9"}),
    }


def synced_person(track, email="ann@example.com") -> Customer:
    track({"event": "page_view", "visitor_id": "v-o", "url": LANDING})
    track(buy("v-o", email))
    return Customer.objects.get(email=email)


# --- Clarm's fields ---------------------------------------------------------------------------------------


def test_hubspot_creates_the_missing_clarm_properties_once_then_upserts_again(tenant, provider, settings, track):
    settings.CLARM_HUBSPOT_API_URL = provider.url
    missing = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": 'Property values were not valid: [{"isValid":false,"message":"Property \\"clarm_rung\\" does '
        'not exist","error":"PROPERTY_DOESNT_EXIST","name":"clarm_rung"}]',
    }
    upserts = [Reply(400, missing), Reply(200, {"status": "COMPLETE", "results": [{"id": "77"}]})]
    provider.routes["/crm/v3/objects/contacts/batch/upsert"] = lambda s: upserts.pop(0)
    provider.routes["/crm/v3/properties/contacts/batch/create"] = lambda s: Reply(201, {"status": "COMPLETE"})
    provider.routes["/crm/v3/objects/notes"] = lambda s: Reply(201, {"id": "n"})
    d = make(tenant, "hubspot", {"token": "pat-1"})
    track({"event": "page_view", "visitor_id": "v-h", "url": LANDING})
    track(buy("v-h", "hub@example.com"))
    assert [s.path for s in provider.requests] == [
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v3/properties/contacts/batch/create",
        "/crm/v3/objects/contacts/batch/upsert",
        "/crm/v3/objects/notes",
    ]
    created = provider.requests[1].json()["inputs"]
    assert {p["name"]: (p["type"], p["fieldType"], p["label"]) for p in created} == {
        "clarm_rung": ("number", "number", "Clarm rung"),
        "clarm_customer_number": ("number", "number", "Clarm customer number"),
        "clarm_first_touch_source": ("string", "text", "Clarm first-touch source"),
        "clarm_first_touch_campaign": ("string", "text", "Clarm first-touch campaign"),
    }
    assert all(p["groupName"] == "contactinformation" for p in created)
    properties = provider.requests[2].json()["inputs"][0]["properties"]
    assert properties["clarm_rung"] == 4 and properties["clarm_first_touch_campaign"] == "fall"
    assert DestinationDelivery.objects.get(destination=d).status == DeliveryState.DELIVERED


def test_pipedrive_creates_missing_person_fields_and_writes_values_under_their_keys(tenant, provider, settings, track):
    settings.CLARM_PIPEDRIVE_API_URL = provider.url
    created = iter(f"{n:040x}" for n in range(1, 10))

    def fields(seen: Seen) -> Reply:
        if seen.method == "GET":  # only the rung field exists already
            return Reply(200, {"success": True, "data": [{"key": "a" * 40, "name": "Clarm rung"}, {"key": "x"}]})
        return Reply(201, {"success": True, "data": {"key": next(created), "name": seen.json()["name"]}})

    provider.routes["/v1/personFields"] = fields
    provider.routes["/v1/persons/search"] = lambda s: Reply(200, {"success": True, "data": {"items": []}})
    provider.routes["/v1/persons"] = lambda s: Reply(201, {"success": True, "data": {"id": 5}})
    provider.routes["/v1/activities"] = lambda s: Reply(201, {"success": True, "data": {"id": 1}})
    make(tenant, "pipedrive", {"api_token": "pd-1"})
    track({"event": "page_view", "visitor_id": "v-p", "url": LANDING})  # the first touch
    track({"event": "identify", "visitor_id": "v-p", "properties": {"email": "pd@example.com"}})
    Customer.objects.filter(email="pd@example.com").update(allow_marketing_email=False)
    track(buy("v-p", "pd@example.com"))
    posts = [s.json() for s in provider.requests if s.path == "/v1/personFields" and s.method == "POST"]
    assert posts == [
        {"name": "Clarm customer number", "field_type": "double"},
        {"name": "Clarm first-touch source", "field_type": "varchar"},
        {"name": "Clarm first-touch campaign", "field_type": "varchar"},
    ]
    person = next(s for s in provider.requests if s.path == "/v1/persons").json()
    assert person["a" * 40] == 4
    assert person[f"{1:040x}"] == 1 and person[f"{2:040x}"] == "news" and person[f"{3:040x}"] == "fall"
    assert person["marketing_status"] == "unsubscribed"  # opted out of marketing email before the sync
    # The keys are kept: the next delivery does not list the fields again.
    before = len(provider.requests)
    track(buy("v-p", "pd@example.com", message_id="again"))
    assert all(s.path != "/v1/personFields" for s in provider.requests[before:])


def test_salesforce_writes_the_custom_fields_its_config_names_and_the_opt_out_flags(tenant, crms, track):
    make(
        tenant,
        "salesforce",
        {
            "client_id": "ck",
            "client_secret": "cs",
            "refresh_token": "rt",
            "rung_field": "Clarm_Rung__c",
            "first_touch_source_field": "Clarm_Source__c",
        },
    )
    track({"event": "page_view", "visitor_id": "v-o", "url": LANDING})  # the first touch
    track({"event": "identify", "visitor_id": "v-o", "properties": {"email": "sf@example.com"}})
    Customer.objects.filter(email="sf@example.com").update(allow_marketing_sms=False)
    track(buy("v-o", "sf@example.com"))
    patch = next(s for s in crms.provider.requests if s.method == "PATCH")
    fields = patch.json()
    assert fields["Clarm_Rung__c"] == 4 and fields["Clarm_Source__c"] == "news" and fields["LeadSource"] == "news"
    assert fields["DoNotCall"] is True and "HasOptedOutOfEmail" not in fields  # only what the person opted out of
    assert not any(k.startswith("Clarm_Customer") or "campaign" in k.lower() for k in fields)  # not configured


def test_a_salesforce_custom_field_name_is_checked_with_a_clear_400(api, tenant):
    config = {"client_id": "ck", "client_secret": "cs", "rung_field": "Rung; DROP"}
    response = api(
        "post",
        "/api/destinations",
        {"provider": "salesforce", "name": "SF", "config": config, "rules": [{"on": "rung_reached", "rung": 4}]},
    )
    assert response.status_code == 400
    assert "config.rung_field must be a custom field API name ending in __c" in json.dumps(response.json())


def test_gohighlevel_creates_custom_fields_and_upserts_their_values_and_dnd(tenant, provider, settings, track):
    settings.CLARM_GOHIGHLEVEL_API_URL = provider.url
    created = iter(f"new{n}" for n in range(10))

    def fields(seen: Seen) -> Reply:
        if seen.method == "GET":
            return Reply(200, {"customFields": []})
        return Reply(201, {"customField": {"id": next(created), "name": seen.json()["name"]}})

    provider.routes["/locations/loc-9/customFields"] = fields
    provider.routes["/contacts/upsert"] = lambda s: Reply(200, {"new": True, "contact": {"id": "ghl-1"}})
    provider.routes["/contacts/ghl-1/notes"] = lambda s: Reply(201, {"note": {"id": "n"}})
    make(tenant, "gohighlevel", {"token": "pit-1", "location_id": "loc-9"})
    track({"event": "page_view", "visitor_id": "v-g", "url": LANDING})  # the first touch
    track({"event": "identify", "visitor_id": "v-g", "properties": {"email": "gl@example.com"}})
    Customer.objects.filter(email="gl@example.com").update(allow_marketing_email=False)
    track(buy("v-g", "gl@example.com"))
    posts = [s.json() for s in provider.requests if s.path.endswith("/customFields") and s.method == "POST"]
    assert posts == [
        {"name": "Clarm rung", "dataType": "NUMERICAL", "model": "contact"},
        {"name": "Clarm customer number", "dataType": "NUMERICAL", "model": "contact"},
        {"name": "Clarm first-touch source", "dataType": "TEXT", "model": "contact"},
        {"name": "Clarm first-touch campaign", "dataType": "TEXT", "model": "contact"},
    ]
    upsert = next(s for s in provider.requests if s.path == "/contacts/upsert").json()
    assert upsert["customFields"] == [
        {"id": "new0", "field_value": 4},
        {"id": "new1", "field_value": 1},
        {"id": "new2", "field_value": "news"},
        {"id": "new3", "field_value": "fall"},
    ]
    assert upsert["dndSettings"] == {"Email": {"status": "active", "message": "Opted out in Clarm"}}


# --- opt-outs ---------------------------------------------------------------------------------------------


def test_an_opt_out_reaches_every_crm_holding_the_person_in_its_own_terms(
    tenant, four, crms, track, client, run_on_commit
):
    customer = synced_person(track)
    start = len(crms.provider.requests)
    # The one-click unsubscribe link of a marketing email (RFC 8058).
    path = reverse("privacy:unsubscribe", kwargs={"token": unsubscribe_token(customer, "marketing_email")})
    response = run_on_commit(lambda: client.post(path, data="List-Unsubscribe=One-Click", content_type="text/plain"))
    assert response.status_code == 200
    sent = crms.since(start)
    assert {(s.method, s.path) for s in sent if "oauth2" not in s.path} == {
        ("POST", "/communication-preferences/v4/statuses/ann@example.com/unsubscribe-all"),
        ("PUT", "/v1/persons/42"),
        ("PATCH", "/services/data/v61.0/sobjects/Lead/00Q1"),
        ("PUT", "/contacts/ghl-1"),
    }
    by_path = {s.path: s for s in sent}
    hubspot = by_path["/communication-preferences/v4/statuses/ann@example.com/unsubscribe-all"]
    assert hubspot.query == {"channel": ["EMAIL"]} and hubspot.headers["authorization"] == "Bearer pat-1"
    assert by_path["/v1/persons/42"].json() == {"marketing_status": "unsubscribed"}
    assert by_path["/services/data/v61.0/sobjects/Lead/00Q1"].json() == {"HasOptedOutOfEmail": True}
    assert by_path["/contacts/ghl-1"].json() == {
        "dndSettings": {"Email": {"status": "active", "message": "Opted out in Clarm"}}
    }
    rows = DestinationDelivery.objects.filter(kind=DeliveryKind.OPTOUT)
    assert rows.count() == 4 and {r.status for r in rows} == {DeliveryState.DELIVERED}

    # An SMS opt-out goes only where a CRM can record it: Salesforce (DoNotCall) and GoHighLevel.
    start = len(crms.provider.requests)
    run_on_commit(
        lambda: preferences_update(
            workspace=tenant.workspace, customer=customer, changes={"marketing_sms": False}, source="api"
        )
    )
    sent = [s for s in crms.since(start) if "oauth2" not in s.path]
    assert {(s.method, s.path) for s in sent} == {
        ("PATCH", "/services/data/v61.0/sobjects/Lead/00Q1"),
        ("PUT", "/contacts/ghl-1"),
    }
    assert next(s for s in sent if s.method == "PATCH").json() == {"DoNotCall": True}
    assert set(next(s for s in sent if s.method == "PUT").json()["dndSettings"]) == {"SMS", "WhatsApp", "Call"}


def test_an_opt_out_of_a_person_no_crm_holds_sends_nothing(tenant, four, crms, track, run_on_commit):
    track({"event": "identify", "visitor_id": "v-n", "properties": {"email": "never@example.com"}})
    customer = Customer.objects.get(email="never@example.com")
    start = len(crms.provider.requests)
    run_on_commit(
        lambda: preferences_update(
            workspace=tenant.workspace, customer=customer, changes={"marketing_email": False}, source="api"
        )
    )
    assert crms.since(start) == []
    assert not DestinationDelivery.objects.filter(kind=DeliveryKind.OPTOUT).exists()


def test_an_opt_out_allowed_again_before_it_went_out_is_skipped(tenant, four, crms, track, run_on_commit):
    customer = synced_person(track)
    hubspot = four["hubspot"]
    for d in four.values():
        destination_update(destination=d, actor=None, status=DestinationStatus.PAUSED)

    def change(allowed: bool) -> None:
        run_on_commit(
            lambda: preferences_update(
                workspace=tenant.workspace, customer=customer, changes={"marketing_email": allowed}, source="api"
            )
        )

    change(False)
    change(True)  # a grant is not pushed: no new row
    row = DestinationDelivery.objects.get(destination=hubspot, kind=DeliveryKind.OPTOUT)
    assert row.status == DeliveryState.PENDING
    start = len(crms.provider.requests)
    destination_update(destination=hubspot, actor=None, status=DestinationStatus.ACTIVE)
    destination_flush(destination_id=hubspot.pk)
    row.refresh_from_db()
    assert row.status == DeliveryState.SKIPPED and "allowed it again" in row.last_answer
    assert crms.since(start) == []


def test_ad_send_back_stops_at_the_opt_out_while_the_crm_keeps_its_delivery(
    tenant, provider, settings, track, run_on_commit
):
    settings.CLARM_META_API_URL = provider.url
    settings.CLARM_HUBSPOT_API_URL = provider.url
    provider.default = Reply(503, {"error": {"message": "Service unavailable"}})
    meta = make(tenant, "meta_capi", {"pixel_id": "1", "access_token": "EAAB"})
    hubspot = make(tenant, "hubspot", {"token": "pat-1"})
    destination_update(destination=hubspot, actor=None, status=DestinationStatus.PAUSED)
    track(buy("v-a", "ads@example.com"))
    waiting = DestinationDelivery.objects.get(destination=meta)
    assert waiting.status == DeliveryState.RETRYING
    customer = Customer.objects.get(email="ads@example.com")
    run_on_commit(
        lambda: preferences_update(
            workspace=tenant.workspace, customer=customer, changes={"ad_sendback": False}, source="preferences"
        )
    )
    waiting.refresh_from_db()
    assert waiting.status == DeliveryState.SKIPPED and "withdrew consent to ad send-back" in waiting.last_answer
    assert waiting.next_attempt_at is None
    provider.default = Reply(200, {"events_received": 1})
    sent = len(provider.requests)
    destination_flush(destination_id=meta.pk, now=timezone.now() + timedelta(hours=1))
    assert len(provider.requests) == sent  # nothing goes to Meta any more
    # The CRM is the workspace's own processing: its delivery still waits for the resume.
    assert DestinationDelivery.objects.get(destination=hubspot).status == DeliveryState.PENDING


def test_an_opt_out_stays_in_its_workspace(tenant, other_tenant, four, crms, track, run_on_commit):
    customer = synced_person(track)
    theirs = make(other_tenant, "hubspot", {"token": "pat-b"})
    their_person = Customer.objects.create(workspace=other_tenant.workspace, email="ann@example.com")
    # Their CRM record has the same remote id, and a delivery about their person waits.
    for n, state in enumerate((DeliveryState.DELIVERED, DeliveryState.PENDING)):
        DestinationDelivery.objects.create(
            workspace=other_tenant.workspace,
            destination=theirs,
            kind=DeliveryKind.EVENT,
            key=f"event:{n}",
            customer_id=their_person.pk,
            status=state,
            remote_id="9001",
            next_attempt_at=timezone.now() + timedelta(hours=1) if state == DeliveryState.PENDING else None,
        )
    before = list(DestinationDelivery.objects.filter(destination=theirs).values_list("pk", "status", "last_answer"))
    start = len(crms.provider.requests)
    run_on_commit(
        lambda: preferences_update(
            workspace=tenant.workspace,
            customer=customer,
            changes={"marketing_email": False, "analytics": False, "ad_sendback": False},
            source="api",
        )
    )
    assert DestinationDelivery.objects.filter(kind=DeliveryKind.OPTOUT, workspace=tenant.workspace).count() == 4
    after = list(DestinationDelivery.objects.filter(destination=theirs).values_list("pk", "status", "last_answer"))
    assert after == before and DeliveryState.PENDING in {status for _, status, _ in after}
    assert all(s.headers.get("authorization") != "Bearer pat-b" for s in crms.since(start))
    their_person.refresh_from_db()
    assert their_person.allow_marketing_email and their_person.allow_analytics
