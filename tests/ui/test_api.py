import datetime

import pytest
from django.test import Client
from django.utils import timezone

from identity.models import CustomerStatus
from tests.ui.conftest import add_event, add_events, add_identifier, make_customer
from workspaces.models import ApiKey, ApiKeyKind

pytestmark = pytest.mark.django_db


def api(key: str | None):
    client = Client(headers={"Authorization": f"Bearer {key}"} if key else {})

    def get(path, **params):
        return client.get(path, params)

    return get


@pytest.fixture
def known(tenant):
    c = make_customer(
        tenant.workspace,
        name="Ana Ruiz",
        company="Ruiz Bakery",
        email="ana@example.com",
        phone="+14155550123",
        rung=4,
        customer_number=7,
        allow_marketing_email=False,
    )
    add_identifier(c, email="ana@example.com")
    add_identifier(c, phone="+14155550123")
    add_identifier(c, user_id="acct-42")
    add_identifier(c, device="visitor-abc")
    return c


def test_lookup_by_each_identifier(tenant, known):
    get = api(tenant.secret_key)
    for params in (
        {"email": " ANA@example.com"},
        {"phone": "(415) 555-0123"},
        {"phone": "+14155550123"},
        {"user_id": "acct-42"},
        {"visitor_id": "visitor-abc"},
    ):
        response = get("/api/customers", **params)
        assert response.status_code == 200, params
        body = response.json()
        assert body["next"] is None
        assert [c["id"] for c in body["results"]] == [known.pk], params


def test_lookup_no_match_is_an_empty_list(tenant, known):
    response = api(tenant.secret_key)("/api/customers", email="nobody@example.com")
    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "Missing lookup parameter"),
        ({"email": "a@b.com", "phone": "+14155550123"}, "exactly one of"),
        ({"email": "not-an-email"}, "email: not a valid email address"),
        ({"phone": "12"}, "phone: not a valid phone number"),
        ({"user_id": "undefined"}, "user_id: not an identifier"),
    ],
)
def test_lookup_400s_name_the_problem(tenant, params, named):
    response = api(tenant.secret_key)("/api/customers", **params)
    assert response.status_code == 400
    assert named in response.json()["error"]


def test_customer_detail_shape(tenant, known):
    response = api(tenant.secret_key)(f"/api/customers/{known.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == known.pk
    assert body["rung"] == 4 and body["rung_name"] == "account" and body["customer_number"] == 7
    assert (body["name"], body["company"]["name"], body["email"], body["phone"]) == (
        "Ana Ruiz",
        "Ruiz Bakery",
        "ana@example.com",
        "+14155550123",
    )
    assert body["company"]["source"] == "identify" and body["company"]["enterprise_score"] is None
    assert body["intent_score"] is None
    assert body["first_seen"] and body["last_seen"]
    kinds = sorted((i["kind"], i["masked"]) for i in body["identifiers"])
    assert ("email", "a***@example.com") in kinds and ("phone", "+14******23") in kinds
    assert {k for k, _ in kinds} == {"email", "phone", "user_id", "device"}
    assert all("value_hash" not in i for i in body["identifiers"])
    assert body["consent"] == {"analytics": True, "marketing_email": False, "marketing_sms": True, "ad_sendback": True}


def test_customer_number_is_null_below_rung_four(tenant):
    c = make_customer(tenant.workspace, rung=3, customer_number=99)
    assert api(tenant.secret_key)(f"/api/customers/{c.pk}").json()["customer_number"] is None


def test_missing_and_merged_customers_are_404(tenant, known):
    get = api(tenant.secret_key)
    response = get("/api/customers/999999")
    assert response.status_code == 404 and "No customer 999999" in response.json()["error"]
    gone = make_customer(tenant.workspace, status=CustomerStatus.MERGED, merged_into=known)
    response = get(f"/api/customers/{gone.pk}")
    assert response.status_code == 404
    assert response.json()["details"] == {"merged_into": known.pk}
    assert get(f"/api/customers/{gone.pk}/timeline").status_code == 404


def test_timeline_walks_every_event_once_oldest_first(tenant, known):
    start = timezone.now() - datetime.timedelta(days=2)
    events = add_events(known, 120, start=start, step=datetime.timedelta(minutes=3))
    # Ties on occurred_at are ordered by id and never skipped across pages.
    tie = start + datetime.timedelta(minutes=3 * 50)
    events += [add_event(known, at=tie) for _ in range(5)]
    expected = [e.pk for e in sorted(events, key=lambda e: (e.occurred_at, e.pk))]
    get = api(tenant.secret_key)
    got, cursor, pages = [], None, 0
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        body = get(f"/api/customers/{known.pk}/timeline", **params).json()
        assert len(body["results"]) <= 7
        got += [e["id"] for e in body["results"]]
        pages += 1
        cursor = body["next"]
        if not cursor:
            break
    assert got == expected
    assert pages == 18  # 125 events / 7 per page


def test_timeline_event_shape_and_default_limit(tenant, known):
    add_event(
        known,
        event="payment_succeeded",
        source="webhook",
        properties={"amount": 50, "currency": "usd", "provider": "stripe"},
        session_id="s-1",
    )
    add_events(known, 150)
    body = api(tenant.secret_key)(f"/api/customers/{known.pk}/timeline").json()
    assert len(body["results"]) == 100 and body["next"]
    first = body["results"][0]
    assert set(first) == {
        "id",
        "event",
        "source",
        "occurred_at",
        "received_at",
        "rung",
        "session_id",
        "properties",
        "title",
    }
    payment = next(
        e
        for e in api(tenant.secret_key)(f"/api/customers/{known.pk}/timeline", limit=500).json()["results"]
        if e["event"] == "payment_succeeded"
    )
    assert payment["title"] == "Stripe payment received: $50.00"
    assert payment["session_id"] == "s-1" and payment["properties"]["amount"] == 50


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "zzz"}, "cursor"),
    ],
)
def test_timeline_400s(tenant, known, params, named):
    response = api(tenant.secret_key)(f"/api/customers/{known.pk}/timeline", **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(named)


@pytest.mark.parametrize(
    "path", ["/api/customers?email=ana@example.com", "/api/customers/{pk}", "/api/customers/{pk}/timeline"]
)
def test_auth_errors_are_401_naming_the_problem(tenant, known, path):
    path = path.format(pk=known.pk)
    client = Client()
    cases = [
        ({}, "Missing API key"),
        ({"Authorization": "Basic abc"}, "Malformed Authorization header"),
        ({"Authorization": "Bearer sk_not-a-real-key"}, "Unknown secret key"),
        ({"Authorization": f"Bearer {tenant.write_key}"}, "write key"),
    ]
    for headers, message in cases:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert message in response.json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_secret_key_is_refused(tenant, known):
    ApiKey.objects.filter(workspace=tenant.workspace, kind=ApiKeyKind.SECRET).update(revoked_at=timezone.now())
    response = api(tenant.secret_key)(f"/api/customers/{known.pk}")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_another_workspaces_key_cannot_see_customers(tenant, other_tenant, known):
    add_event(known)
    get = api(other_tenant.secret_key)
    for path in (f"/api/customers/{known.pk}", f"/api/customers/{known.pk}/timeline"):
        response = get(path)
        assert response.status_code == 404
        assert response.json()["error"] == f"No customer {known.pk} in this workspace."
    # The identifier lookup hashes with B's key: A's customer is simply not found.
    assert get("/api/customers", email="ana@example.com").json() == {"results": [], "next": None}
    assert get("/api/customers", user_id="acct-42").json() == {"results": [], "next": None}


def test_schema_documents_the_read_api(tenant):
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    text = response.content.decode()
    for path in ("/api/customers", "/api/customers/{id}", "/api/customers/{id}/timeline"):
        assert path in text
    if schema:
        assert "secretKey" in schema["components"]["securitySchemes"]
    assert "secretKey" in text


def test_offline_reference_page_lists_the_endpoints(client):
    body = client.get("/api/reference/").content.decode()
    assert "/api/customers/&lt;id&gt;/timeline" in body and "Bearer sk_" in body
