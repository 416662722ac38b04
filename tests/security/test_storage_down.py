"""With the database down, every API answers JSON 503 with Retry-After (clients and providers retry
such answers), never an HTML 500."""

import base64
import json
import time

import pytest

from tests.integrations.conftest import stripe_header

pytestmark = pytest.mark.postgres_only(
    reason="cuts the PostgreSQL server (a closed port); the embedded default has no database server to lose"
)


def _assert_retry_later(response) -> None:
    assert response.status_code == 503, response.content[:200]
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert "unavailable" in response.json()["error"]


@pytest.fixture
def stripe_connected(tenant):
    from integrations.services import connection_save

    connection_save(
        workspace=tenant.workspace,
        provider="stripe",
        values={"api_key": "sk_test_51Abc", "webhook_secret": "whsec_test_0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
        actor=tenant.owner,
    )
    return tenant


def test_track_with_the_database_down_answers_json_503(tenant, raw_client, database_down):
    body = json.dumps({"event": "page_view", "visitor_id": "v-1", "message_id": "m-1"})
    response = raw_client.post(
        "/api/track", body, content_type="application/json", HTTP_X_CLARM_KEY=tenant.write_key, REMOTE_ADDR="8.8.8.8"
    )
    _assert_retry_later(response)


def test_segment_api_with_the_database_down_answers_json_503(tenant, raw_client, database_down):
    auth = base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    body = json.dumps({"userId": "u-1", "event": "Signed Up", "messageId": "m-1"})
    response = raw_client.post("/v1/track", body, content_type="application/json", HTTP_AUTHORIZATION=f"Basic {auth}")
    _assert_retry_later(response)


@pytest.mark.parametrize(
    ("method", "path", "body", "auth"),
    [
        ("post", "/v1/batch", {"batch": [{"type": "track", "userId": "u-1", "event": "A"}]}, "basic"),
        ("get", "/api/consent", None, "write"),
        ("get", "/api/widget", None, "write"),
        (
            "post",
            "/api/widget/messages",
            {"visitor_id": "v-" + "a" * 10, "message_id": "m-" * 5, "body": "Hi"},
            "write",
        ),
        ("post", "/api/widget/poll", {"token": "t" * 32, "after": 0}, "write"),
        ("get", "/api/status", None, "secret"),
        ("post", "/api/links", {"url": "https://example.com/"}, "secret"),
        ("get", "/api/visitors", None, "secret"),
        ("get", "/api/conversations", None, "secret"),
        ("get", "/api/destinations", None, "secret"),
    ],
)
def test_every_other_api_with_the_database_down_answers_json_503(
    tenant, raw_client, database_down, method, path, body, auth
):
    """The endpoints that came after the first probe (the pipeline's status, the chat widget) and the
    rest of the ingest and read APIs: the key lookup is the first thing that needs the database."""
    headers = {
        "basic": {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()},
        "write": {"HTTP_X_CLARM_KEY": tenant.write_key},
        "secret": {"HTTP_AUTHORIZATION": f"Bearer {tenant.secret_key}"},
    }[auth]
    if method == "get":
        response = raw_client.get(path, **headers)
    else:
        response = raw_client.post(path, json.dumps(body), content_type="application/json", **headers)
    _assert_retry_later(response)


def test_webhook_with_the_database_down_answers_json_503(stripe_connected, raw_client, database_down):
    payload = json.dumps(
        {"id": "evt_1", "type": "payment_intent.succeeded", "created": int(time.time()), "data": {"object": {}}}
    )
    response = raw_client.post(
        f"/hooks/stripe/{stripe_connected.workspace.slug}/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_header(payload),
    )
    _assert_retry_later(response)


@pytest.mark.django_db(transaction=True)
def test_webhook_whose_store_fails_answers_503_with_retry_after(stripe_connected, raw_client, monkeypatch):
    from django.db import OperationalError

    from integrations.views import hooks

    def refused(**kwargs):
        raise OperationalError("the server closed the connection unexpectedly")

    monkeypatch.setattr(hooks, "deliveries_store", refused)
    payload = json.dumps(
        {"id": "evt_2", "type": "payment_intent.succeeded", "created": int(time.time()), "data": {"object": {}}}
    )
    response = raw_client.post(
        f"/hooks/stripe/{stripe_connected.workspace.slug}/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_header(payload),
    )
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


def test_read_api_with_the_database_down_answers_json_503(tenant, raw_client, database_down):
    response = raw_client.get("/api/customers?email=a@example.com", HTTP_AUTHORIZATION=f"Bearer {tenant.secret_key}")
    _assert_retry_later(response)


def test_a_page_with_the_database_down_says_try_again_later(tenant, raw_client, database_down):
    response = raw_client.get("/accounts/login/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "try again" in response.content.decode().lower()


def test_a_signed_in_page_with_the_database_down_says_try_again_later(tenant, client, database_down):
    client.raise_request_exception = False
    client.cookies["sessionid"] = "a-session-the-database-would-hold"  # the lookup itself fails
    response = client.get("/")
    assert response.status_code == 503
    assert "try again" in response.content.decode().lower()


def test_a_bug_on_an_api_is_a_json_500_naming_no_internals(tenant, raw_client, monkeypatch):
    from tracking import views

    def broken(*args, **kwargs):
        raise KeyError("secret internals")

    monkeypatch.setattr(views, "events_ingest", broken)
    body = json.dumps({"event": "page_view", "visitor_id": "v-1"})
    response = raw_client.post(
        "/api/track", body, content_type="application/json", HTTP_X_CLARM_KEY=tenant.write_key, REMOTE_ADDR="8.8.8.8"
    )
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "secret internals" not in response.content.decode()
