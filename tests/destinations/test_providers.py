"""Each provider's real request shape, against a local server answering like the provider: Meta
Conversions API, Google Data Manager, Slack, and the four CRMs; consent and erasure."""

import hashlib
import json
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from identity.models import Customer, Identifier
from identity.privacy.erasure import subject_erase
from integrations.destinations.hooks import high_intent_visitor_fired
from integrations.destinations.models import DeliveryState, DestinationDelivery, DestinationStatus
from integrations.destinations.services import destination_create, destination_flush, destination_update
from integrations.events import event_record
from tests.destinations.conftest import Reply
from tracking.models import Event

CLARM_LABELS = ("Clarm rung", "Clarm customer number", "Clarm first-touch source", "Clarm first-touch campaign")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def make(tenant, provider_key, config, rules):
    return destination_create(
        workspace=tenant.workspace,
        provider=provider_key,
        name=provider_key,
        config=config,
        rules=rules,
        actor=tenant.owner,
    )


def buy(visitor, email, phone=None, amount=49.0):
    props = {"email": email, "amount": amount, "currency": "usd"}
    if phone:
        props["phone"] = phone
    return {"event": "purchase", "visitor_id": visitor, "properties": props}


# --- Meta -------------------------------------------------------------------------------------------


@pytest.fixture
def meta(tenant, provider, settings):
    settings.CLARM_META_API_URL = provider.url
    provider.default = Reply(200, {"events_received": 1, "messages": [], "fbtrace_id": "AbC"})
    return make(
        tenant,
        "meta_capi",
        {"pixel_id": "1234567890", "access_token": "EAAB-token", "test_event_code": "TEST4242"},
        [{"on": "event", "event": "purchase", "map_to": "Purchase"}, {"on": "event", "event": "booking_created"}],
    )


def test_meta_gets_hashed_user_data_the_clarm_event_id_and_fbc_from_the_landing(meta, track, provider):
    track({"event": "page_view", "visitor_id": "v-m", "url": "https://shop.example/?fbclid=IwAR-click-1"})
    track(buy("v-m", "  Ann.Lee@Example.COM ", phone="+1 415 555 0100"))
    (seen,) = provider.requests
    assert seen.method == "POST" and seen.path == "/v21.0/1234567890/events"
    body = seen.json()
    assert body["access_token"] == "EAAB-token" and body["test_event_code"] == "TEST4242"
    (event,) = body["data"]
    stored = Event.objects.get(event="purchase")
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == str(stored.pk)
    assert event["event_time"] == int(stored.occurred_at.timestamp())
    assert event["user_data"]["em"] == [sha("ann.lee@example.com")]
    assert event["user_data"]["ph"] == [sha("14155550100")]
    assert event["user_data"]["external_id"] == [sha(str(stored.customer_id))]
    landing = Event.objects.get(event="page_view")
    assert event["user_data"]["fbc"] == f"fb.1.{int(landing.occurred_at.timestamp() * 1000)}.IwAR-click-1"
    assert event["custom_data"] == {"value": 49.0, "currency": "USD"}
    assert event["action_source"] in ("website", "system_generated")
    assert "ann" not in seen.body.lower()  # nothing personal in clear


CHROME_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)


def _stored_purchase(workspace, *, email: str, context: dict, source: str = "web") -> Event:
    customer = Customer.objects.create(workspace=workspace, email=email, rung=4)
    return Event.objects.create(
        workspace=workspace,
        customer=customer,
        event="purchase",
        source=source,
        occurred_at=timezone.now(),
        properties={"amount": 20, "currency": "EUR"},
        context=context,
    )


def _send_stored(destination, events) -> None:
    from integrations.destinations.services import deliveries_from_events

    deliveries_from_events(workspace_id=destination.workspace_id, event_ids=[e.pk for e in events])
    destination_flush(destination_id=destination.pk)


def test_meta_sends_a_browser_event_as_website_with_its_user_agent_and_page(meta, provider):
    page = "https://shop.example/checkout/done"
    event = _stored_purchase(meta.workspace, email="ua@example.com", context={"user_agent": CHROME_UA, "url": page})
    _send_stored(meta, [event])
    (sent,) = provider.requests[0].json()["data"]
    assert sent["action_source"] == "website"
    assert sent["user_data"]["client_user_agent"] == CHROME_UA
    assert sent["event_source_url"] == page
    assert sent["event_id"] == str(event.pk)


def test_meta_falls_back_to_system_generated_without_a_user_agent_or_a_page(meta, provider):
    no_ua = _stored_purchase(meta.workspace, email="a@example.com", context={"url": "https://shop.example/"})
    no_url = _stored_purchase(meta.workspace, email="b@example.com", context={"user_agent": CHROME_UA})
    server = _stored_purchase(
        meta.workspace, email="c@example.com", context={"user_agent": CHROME_UA, "url": "https://x/"}, source="webhook"
    )
    _send_stored(meta, [no_ua, no_url, server])
    sent = {e["event_id"]: e for e in provider.requests[0].json()["data"]}
    for event in (no_ua, no_url, server):
        out = sent[str(event.pk)]
        # Meta refuses `website` without both: such events go as system-generated, with neither field.
        assert out["action_source"] == "system_generated"
        assert "client_user_agent" not in out["user_data"] and "event_source_url" not in out


def test_meta_batches_at_most_1000_events_per_request(meta, track, provider):
    destination_update(destination=meta, actor=None, status=DestinationStatus.PAUSED)
    for start in range(0, 2500, 500):
        r = track({"batch": [buy(f"v{i}", f"p{i}@example.com") for i in range(start, start + 500)]})
        assert r.json()["accepted"] == 500
    assert provider.requests == []  # paused: rows wait
    assert DestinationDelivery.objects.filter(destination=meta, status=DeliveryState.PENDING).count() == 2500
    destination_update(destination=meta, actor=None, status=DestinationStatus.ACTIVE)
    destination_flush(destination_id=meta.pk)
    sizes = [len(s.json()["data"]) for s in provider.requests]
    assert sizes == [1000, 1000, 500]
    ids = {e["event_id"] for s in provider.requests for e in s.json()["data"]}
    assert len(ids) == 2500
    assert DestinationDelivery.objects.filter(destination=meta, status=DeliveryState.DELIVERED).count() == 2500


def test_meta_rate_limit_error_code_is_retried(meta, track, provider):
    provider.script = [Reply(400, {"error": {"message": "User request limit reached", "code": 17}})]
    track(buy("v1", "a@example.com"))
    row = DestinationDelivery.objects.get(destination=meta)
    assert row.status == DeliveryState.RETRYING and "rate limit" in row.last_answer


def test_ad_sendback_respects_the_persons_choice_and_gpc(meta, track, provider):
    track(buy("v-no", "no@example.com"))
    provider.requests.clear()
    Customer.objects.filter(email="no@example.com").update(allow_ad_sendback=False)
    track({**buy("v-no", "no@example.com"), "message_id": "m2"})
    assert provider.requests == []
    row = DestinationDelivery.objects.filter(destination=meta).latest("id")
    assert row.status == DeliveryState.SKIPPED and "ad send-back" in row.last_answer
    # GPC/DNT on the event: skipped whatever the person's preference.
    customer = Customer.objects.create(workspace=meta.workspace, email="gpc@example.com")
    event = Event.objects.create(
        workspace=meta.workspace,
        customer=customer,
        event="purchase",
        source="web",
        occurred_at=timezone.now(),
        context={"gpc": True},
    )
    from integrations.destinations.services import deliveries_from_events

    deliveries_from_events(workspace_id=meta.workspace_id, event_ids=[event.pk])
    destination_flush(destination_id=meta.pk)
    assert provider.requests == []
    assert "Global Privacy Control" in DestinationDelivery.objects.get(event_id=event.pk).last_answer


def test_crm_skips_people_who_opted_out_of_analytics(tenant, provider, settings, track, run_on_commit):
    settings.CLARM_HUBSPOT_API_URL = provider.url
    provider.default = Reply(200, {"results": [{"id": "1"}]})
    d = make(tenant, "hubspot", {"token": "pat-1"}, [{"on": "event", "event": "purchase"}])
    track(buy("v-q", "quiet@example.com"))
    sent = len(provider.requests)
    assert sent >= 1
    Customer.objects.filter(email="quiet@example.com").update(allow_analytics=False)
    # A write-key event of an opted-out person is refused by the stitcher, whatever source it names...
    track({**buy("v-q", "quiet@example.com"), "source": "agent", "message_id": "m-q2"})
    assert not Event.objects.filter(message_id="m-q2").exists()
    # ...but a payment is kept as a transactional record: the CRM still does not get it.
    run_on_commit(
        lambda: event_record(
            workspace=tenant.workspace,
            event="purchase",
            source="webhook",
            provider="stripe",
            message_id="stripe:evt_q2",
            email="quiet@example.com",
            account_signal=True,
        )
    )
    assert len(provider.requests) == sent
    row = DestinationDelivery.objects.filter(destination=d).latest("id")
    assert row.status == DeliveryState.SKIPPED and "opted out of analytics" in row.last_answer


# --- Google Ads (Data Manager API) --------------------------------------------------------------


def test_google_ads_refreshes_a_token_then_ingests_with_gclid_and_hashed_identifiers(tenant, provider, settings, track):
    settings.CLARM_GOOGLE_DATAMANAGER_API_URL = provider.url
    settings.CLARM_GOOGLE_OAUTH_TOKEN_URL = provider.url + "/token"
    provider.routes["/token"] = lambda seen: Reply(200, {"access_token": "ya29.tok", "expires_in": 3599})
    provider.routes["/v1/events:ingest"] = lambda seen: Reply(200, {"requestId": "req-1"})
    d = make(
        tenant,
        "google_ads",
        {
            "customer_id": "123-456-7890",
            "conversion_action_id": "555",
            "client_id": "cid",
            "client_secret": "csecret",
            "refresh_token": "1//rt",
        },
        [{"on": "event", "event": "purchase", "conversion_action": "777"}],
    )
    track({"event": "page_view", "visitor_id": "v-g", "url": "https://shop.example/?gclid=Cj0-click&utm_source=g"})
    track(buy("v-g", "Gee@Example.com", phone="+44 20 7946 0958"))
    token_request, ingest = provider.requests
    form = parse_qs(token_request.body)
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["cid"],
        "client_secret": ["csecret"],
        "refresh_token": ["1//rt"],
    }
    assert ingest.headers["authorization"] == "Bearer ya29.tok"
    body = ingest.json()
    assert body["encoding"] == "HEX" and body["validateOnly"] is False
    assert body["destinations"] == [
        {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
            "productDestinationId": "777",
            "reference": "777",
        }
    ]
    (event,) = body["events"]
    stored = Event.objects.get(event="purchase")
    assert event["transactionId"] == str(stored.pk) and event["destinationReferences"] == ["777"]
    assert event["adIdentifiers"] == {"gclid": "Cj0-click"}
    assert event["userData"]["userIdentifiers"] == [
        {"emailAddress": sha("gee@example.com")},
        {"phoneNumber": sha("+442079460958")},
    ]
    assert event["conversionValue"] == 49.0 and event["currency"] == "USD"
    assert DestinationDelivery.objects.get(destination=d).remote_id == "req-1"
    # The token is cached: the next conversion goes straight to ingest.
    track({**buy("v-g", "gee@example.com"), "message_id": "m-2"})
    assert [s.path for s in provider.requests[2:]] == ["/v1/events:ingest"]


def test_google_ads_service_account_signs_a_jwt_bearer_grant(tenant, provider, settings, track):
    settings.CLARM_GOOGLE_DATAMANAGER_API_URL = provider.url
    settings.CLARM_GOOGLE_OAUTH_TOKEN_URL = provider.url + "/token"
    provider.routes["/token"] = lambda seen: Reply(200, {"access_token": "ya29.sa", "expires_in": 3599})
    provider.routes["/v1/"] = lambda seen: Reply(503, {"error": {"code": 503, "status": "UNAVAILABLE"}})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = json.dumps(
        {
            "type": "service_account",
            "client_email": "clarm@p.iam.gserviceaccount.com",
            "private_key_id": "k1",
            "private_key": pem,
        }
    )
    d = make(
        tenant,
        "google_ads",
        {"customer_id": "1234567890", "conversion_action_id": "555", "service_account_json": account},
        [{"on": "event", "event": "purchase"}],
    )
    track(buy("v-s", "s@example.com"))
    form = parse_qs(provider.requests[0].body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    import base64

    header, claims, signature = form["assertion"][0].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=="))
    assert decoded["iss"] == "clarm@p.iam.gserviceaccount.com" and decoded["aud"] == provider.url + "/token"
    assert decoded["scope"] == "https://www.googleapis.com/auth/datamanager"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key.public_key().verify(
        base64.urlsafe_b64decode(signature + "=="), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert DestinationDelivery.objects.get(destination=d).status == DeliveryState.RETRYING  # 503: retried


# --- Slack --------------------------------------------------------------------------------------------


def test_slack_incoming_webhook_gets_the_person_what_happened_and_a_timeline_link(
    tenant, provider, track, run_on_commit
):
    provider.default = Reply(200, b"ok")
    make(tenant, "slack", {"webhook_url": provider.url + "/services/T1/B1/x"}, [{"on": "high_intent_visitor"}])
    track({"event": "identify", "visitor_id": "v-h", "properties": {"email": "hot@example.com", "name": "Hot Lead"}})
    customer = Customer.objects.get(email="hot@example.com")
    run_on_commit(
        lambda: high_intent_visitor_fired(workspace_id=tenant.workspace.pk, customer_id=customer.pk, score=83)
    )
    (seen,) = provider.requests
    assert seen.path == "/services/T1/B1/x"
    body = seen.json()
    assert body["text"] == "Hot Lead is a high-intent visitor (intent score 83)"
    assert f"/w/{tenant.workspace.slug}/customers/{customer.pk}/" in json.dumps(body["blocks"])


def test_slack_bot_token_posts_chat_post_message_to_the_channel(tenant, provider, settings, track):
    settings.CLARM_SLACK_API_URL = provider.url
    provider.default = Reply(200, {"ok": True, "channel": "C1", "ts": "1700000000.0001"})
    make(tenant, "slack", {"token": "xoxb-123", "channel": "#sales"}, [{"on": "rung_reached", "rung": 2}])
    track({"event": "identify", "visitor_id": "v-b", "properties": {"email": "b@example.com"}})
    (seen,) = provider.requests
    assert seen.path == "/api/chat.postMessage"
    assert seen.headers["authorization"] == "Bearer xoxb-123"
    sent = json.loads(seen.body) if seen.body.startswith("{") else parse_qs(seen.body)
    assert sent["channel"] in ("#sales", ["#sales"])
    assert "reached rung 2 (email)" in json.dumps(sent)


def test_slack_rate_limit_is_retried_after_its_retry_after(tenant, provider, settings, track):
    settings.CLARM_SLACK_API_URL = provider.url
    provider.script = [Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})]
    d = make(tenant, "slack", {"token": "xoxb-1", "channel": "C1"}, [{"on": "event", "event": "purchase"}])
    track(buy("v-r", "r@example.com"))
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.RETRYING and row.last_status_code == 429
    assert row.next_attempt_at is not None
    assert (row.next_attempt_at - timezone.now()).total_seconds() >= 25


# --- CRMs ---------------------------------------------------------------------------------------------


def test_hubspot_upserts_by_email_adds_a_note_keeps_the_id_and_deletes_on_erasure(
    tenant, provider, settings, track, run_on_commit
):
    settings.CLARM_HUBSPOT_API_URL = provider.url
    provider.routes["/crm/v3/objects/contacts/batch/upsert"] = lambda s: Reply(
        200, {"status": "COMPLETE", "results": [{"id": "9001"}]}
    )
    provider.routes["/crm/v3/objects/notes"] = lambda s: Reply(201, {"id": "n1"})
    provider.routes["/crm/v3/objects/contacts/gdpr-delete"] = lambda s: Reply(204, b"")
    d = make(tenant, "hubspot", {"token": "pat-na1-abc"}, [{"on": "event", "event": "purchase"}])
    track({"event": "page_view", "visitor_id": "v-hs", "url": "https://x.example/?utm_source=news&utm_campaign=fall"})
    track(buy("v-hs", "Dana@Example.com", phone="+14155550123"))
    upsert, note = provider.requests
    assert upsert.headers["authorization"] == "Bearer pat-na1-abc"
    assert upsert.json() == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "dana@example.com",
                "properties": {
                    "email": "dana@example.com",
                    "firstname": "",
                    "lastname": "",
                    "phone": "+14155550123",
                    # Clarm's fields as contact properties, not only in the note.
                    "clarm_rung": 4,
                    "clarm_customer_number": 1,
                    "clarm_first_touch_source": "news",
                    "clarm_first_touch_campaign": "fall",
                },
            }
        ]
    }
    note_body = note.json()
    assert note_body["associations"][0]["to"] == {"id": "9001"}
    assert note_body["associations"][0]["types"] == [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}
    ]
    text = note_body["properties"]["hs_note_body"]
    assert "Clarm rung 4" in text and "customer #1" in text and "first touch: news / fall" in text
    customer = Customer.objects.get(email="dana@example.com")
    assert DestinationDelivery.objects.get(destination=d, kind="event").remote_id == "9001"
    # The HubSpot id is now an external identifier of the person.
    assert Identifier.objects.filter(customer=customer, kind="external").exists()
    run_on_commit(lambda: subject_erase(workspace=tenant.workspace, customer=customer))
    erase = provider.requests[-1]
    assert erase.path == "/crm/v3/objects/contacts/gdpr-delete" and erase.json() == {"objectId": "9001"}
    row = DestinationDelivery.objects.get(destination=d, kind="erasure")
    assert row.status == DeliveryState.DELIVERED and row.customer_id is None
    assert not DestinationDelivery.objects.filter(customer_id=customer.pk).exists()


def test_pipedrive_finds_or_creates_the_person_and_logs_an_activity(tenant, provider, settings, track):
    settings.CLARM_PIPEDRIVE_API_URL = provider.url
    provider.routes["/v1/persons/search"] = lambda s: Reply(200, {"success": True, "data": {"items": []}})
    provider.routes["/v1/persons"] = lambda s: Reply(201, {"success": True, "data": {"id": 42}})
    provider.routes["/v1/activities"] = lambda s: Reply(201, {"success": True, "data": {"id": 7}})
    provider.routes["/v1/personFields"] = lambda s: Reply(
        200, {"success": True, "data": [{"key": f"k{n}", "name": name} for n, name in enumerate(CLARM_LABELS)]}
    )
    d = make(tenant, "pipedrive", {"api_token": "pd-tok"}, [{"on": "event", "event": "purchase"}])
    track(buy("v-p", "pat@example.com"))
    fields, search, create, activity = provider.requests
    assert fields.path == "/v1/personFields" and fields.method == "GET"
    assert search.query == {"term": ["pat@example.com"], "fields": ["email"], "exact_match": ["true"]}
    assert all(s.headers["x-api-token"] == "pd-tok" for s in provider.requests)
    assert create.method == "POST" and create.json()["email"] == [{"value": "pat@example.com", "primary": True}]
    assert activity.json()["person_id"] == 42 and activity.json()["done"] == 1
    assert DestinationDelivery.objects.get(destination=d, kind="event").remote_id == "42"


def test_salesforce_logs_in_queries_by_email_updates_the_lead_and_adds_a_task(tenant, provider, settings, track):
    settings.CLARM_SALESFORCE_API_URL = provider.url
    provider.routes["/services/oauth2/token"] = lambda s: Reply(
        200, {"access_token": "00D!tok", "instance_url": provider.url}
    )
    provider.routes["/services/data/v61.0/query"] = lambda s: Reply(200, {"totalSize": 1, "records": [{"Id": "00Q1"}]})
    provider.routes["/services/data/v61.0/sobjects/Lead/00Q1"] = lambda s: Reply(204, b"")
    provider.routes["/services/data/v61.0/sobjects/Task"] = lambda s: Reply(201, {"id": "00T1", "success": True})
    d = make(
        tenant,
        "salesforce",
        {"client_id": "ck", "client_secret": "cs", "refresh_token": "rt"},
        [{"on": "event", "event": "purchase"}],
    )
    track(buy("v-sf", "o'neil@example.com"))
    paths = [(s.method, s.path) for s in provider.requests]
    assert ("GET", "/services/data/v61.0/query") in paths
    assert ("PATCH", "/services/data/v61.0/sobjects/Lead/00Q1") in paths
    query = next(s for s in provider.requests if s.path.endswith("/query"))
    assert query.query["q"] == ["SELECT Id FROM Lead WHERE Email = 'o\\'neil@example.com'"]
    assert query.headers["authorization"] == "Bearer 00D!tok"
    token = parse_qs(provider.requests[0].body)
    assert token["grant_type"] == ["refresh_token"] and token["client_id"] == ["ck"]
    task = next(s for s in provider.requests if s.path.endswith("/Task"))
    assert task.json()["WhoId"] == "00Q1" and task.json()["Status"] == "Completed"
    assert DestinationDelivery.objects.get(destination=d, kind="event").remote_id == "00Q1"


def test_gohighlevel_upserts_the_contact_with_its_version_header(tenant, provider, settings, track):
    settings.CLARM_GOHIGHLEVEL_API_URL = provider.url
    provider.routes["/contacts/upsert"] = lambda s: Reply(200, {"new": True, "contact": {"id": "ghl-1"}})
    provider.routes["/contacts/ghl-1/notes"] = lambda s: Reply(201, {"note": {"id": "n"}})
    provider.routes["/locations/loc-9/customFields"] = lambda s: Reply(
        200, {"customFields": [{"id": f"cf{n}", "name": name} for n, name in enumerate(CLARM_LABELS)]}
    )
    make(tenant, "gohighlevel", {"token": "pit-1", "location_id": "loc-9"}, [{"on": "rung_reached", "rung": 4}])
    track(buy("v-ghl", "gh@example.com"))
    fields, upsert, note = provider.requests
    assert fields.query == {"model": ["contact"]}
    assert upsert.headers["version"] == "2021-07-28" and upsert.headers["authorization"] == "Bearer pit-1"
    body = upsert.json()
    assert body["locationId"] == "loc-9" and body["email"] == "gh@example.com" and "clarm-rung-4" in body["tags"]
    assert "reached rung 4" in note.json()["body"]


def test_a_crm_without_an_email_is_a_named_skip_not_a_retry(tenant, provider, settings, track):
    settings.CLARM_HUBSPOT_API_URL = provider.url
    d = make(tenant, "hubspot", {"token": "t"}, [{"on": "event", "event": "purchase"}])
    track({"event": "purchase", "visitor_id": "v-anon", "properties": {"amount": 1, "currency": "usd"}})
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.FAILED and "keyed by email" in row.last_answer
    assert provider.requests == []


def test_a_worker_lets_a_meta_batch_fill_for_up_to_the_linger(meta, track, provider):
    from datetime import timedelta

    destination_update(destination=meta, actor=None, status=DestinationStatus.PAUSED)
    track({"batch": [buy(f"v{i}", f"l{i}@example.com") for i in range(3)]})
    destination_update(destination=meta, actor=None, status=DestinationStatus.ACTIVE)
    provider.requests.clear()
    DestinationDelivery.objects.filter(destination=meta).update(status=DeliveryState.PENDING)
    # A partial batch younger than the linger waits...
    assert destination_flush(destination_id=meta.pk, linger=5.0)["requests"] == 0
    assert provider.requests == []
    # ...and goes as one request once its oldest row has waited that long.
    later = timezone.now() + timedelta(seconds=6)
    assert destination_flush(destination_id=meta.pk, linger=5.0, now=later)["requests"] == 1
    assert len(provider.requests[0].json()["data"]) == 3
