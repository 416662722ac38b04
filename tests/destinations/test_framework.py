"""Destinations: the API, rules, retries and the 72-hour pause, the SSRF guard, tenant isolation,
Standard Webhooks signing, and the feed from ingest (events and rung crossings)."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from integrations.destinations import ssrf
from integrations.destinations.models import DeliveryState, Destination, DestinationDelivery, DestinationStatus
from integrations.destinations.services import destination_create, destination_flush, retry_delay
from tests.destinations.conftest import Reply
from workspaces.models import AuditLog


def webhook(tenant, url, rules=None):
    return destination_create(
        workspace=tenant.workspace,
        provider="webhook",
        name="Hook",
        config={"url": url},
        rules=rules or [{"on": "event", "event": "purchase"}],
        actor=tenant.owner,
    )


def purchase(email="ann@example.com", amount=120.5, **extra):
    return {
        "event": "purchase",
        "visitor_id": "v-ann",
        "properties": {"email": email, "amount": amount, "currency": "eur", "orderId": "o-1"},
        **extra,
    }


# --- API -------------------------------------------------------------------------------------------


def test_create_webhook_answers_201_with_a_standard_webhooks_secret_shown_once(api, provider):
    r = api(
        "post",
        "/api/destinations",
        {
            "provider": "webhook",
            "name": "Zapier",
            "config": {"url": provider.url + "/in"},
            "rules": [
                {"on": "event", "event": "purchase", "map_to": "Purchase"},
                {"on": "rung_reached", "rung": 4},
                {"on": "high_intent_visitor"},
            ],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert set(body) == {"id", "provider", "name", "status", "secret"}
    assert body["status"] == "active" and body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    listed = api("get", "/api/destinations").json()["results"]
    assert [d["id"] for d in listed] == [body["id"]]
    assert "secret" not in listed[0]["config"] and body["secret"] not in json.dumps(listed)
    # Stored encrypted: the URL is not in the row's text.
    row = Destination.objects.get(pk=body["id"])
    assert "/in" not in row.config_encrypted and row.config["url"].endswith("/in")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"provider": "myspace", "name": "x", "config": {}, "rules": []}, "provider"),
        (
            {"provider": "webhook", "name": "x", "config": {}, "rules": [{"on": "event", "event": "a"}]},
            "config.url is required",
        ),
        (
            {
                "provider": "webhook",
                "name": "x",
                "config": {"url": "ftp://x"},
                "rules": [{"on": "event", "event": "a"}],
            },
            "https://",
        ),
        (
            {
                "provider": "webhook",
                "name": "x",
                "config": {"url": "https://a.example"},
                "rules": [{"on": "rung_reached", "rung": 9}],
            },
            "rules[0].rung",
        ),
        (
            {"provider": "slack", "name": "x", "config": {"token": "xoxb-1"}, "rules": [{"on": "high_intent_visitor"}]},
            "webhook_url or token+channel",
        ),
        (
            {
                "provider": "meta_capi",
                "name": "x",
                "config": {"pixel_id": "1", "access_token": "t", "color": "red"},
                "rules": [{"on": "event", "event": "purchase"}],
            },
            "Unknown config keys",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_problem_and_stores_nothing(api, payload, message):
    r = api("post", "/api/destinations", payload)
    assert r.status_code == 400
    assert message in json.dumps(r.json())
    assert not Destination.objects.exists()


def test_a_write_key_cannot_manage_destinations(api, tenant):
    r = api("get", "/api/destinations", secret=tenant.write_key)
    assert r.status_code == 401 and "write key" in r.json()["error"]


def test_another_workspace_cannot_read_change_or_delete_a_destination(api, tenant, other_tenant, provider):
    theirs = webhook(other_tenant, provider.url)
    before = (theirs.name, theirs.status, theirs.config_encrypted)
    for method, body in (("get", None), ("patch", {"status": "paused", "name": "pwned"}), ("delete", None)):
        r = api(method, f"/api/destinations/{theirs.pk}", body)
        assert r.status_code == 404 and r.json()["error"] == "No such destination in this workspace."
    assert api("get", f"/api/destinations/{theirs.pk}/deliveries").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.name, theirs.status, theirs.config_encrypted) == before
    assert api("get", "/api/destinations").json()["results"] == []


def test_patch_pauses_and_resumes_and_delete_removes(api, tenant, provider):
    d = webhook(tenant, provider.url)
    r = api("patch", f"/api/destinations/{d.pk}", {"status": "paused", "name": "Renamed"})
    assert r.status_code == 200 and r.json()["status"] == "paused" and r.json()["name"] == "Renamed"
    assert api("patch", f"/api/destinations/{d.pk}", {"status": "failing"}).status_code == 400
    assert api("delete", f"/api/destinations/{d.pk}").status_code == 204
    assert not Destination.objects.filter(pk=d.pk).exists()
    assert AuditLog.objects.filter(workspace=tenant.workspace, action="destination.deleted").exists()


# --- the feed from ingest, signing ------------------------------------------------------------------


def test_a_purchase_is_posted_signed_with_standard_webhooks(track, tenant, provider, api):
    d = webhook(tenant, provider.url + "/hook")
    secret = d.config["secret"]
    r = track(purchase())
    assert r.status_code == 202
    assert len(provider.requests) == 1
    seen = provider.requests[0]
    assert seen.path == "/hook"
    msg_id, ts = seen.headers["webhook-id"], seen.headers["webhook-timestamp"]
    expected = base64.b64encode(
        hmac.new(
            base64.b64decode(secret.removeprefix("whsec_")), f"{msg_id}.{ts}.{seen.body}".encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert seen.headers["webhook-signature"] == f"v1,{expected}"
    body = seen.json()
    assert body["id"] == msg_id and body["type"] == "event.created"
    assert body["data"]["event"]["event"] == "purchase"
    assert body["data"]["customer"]["email"] == "ann@example.com"
    log = api("get", f"/api/destinations/{d.pk}/deliveries").json()
    assert log["next"] is None
    (row,) = log["results"]
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["event_id"] == body["data"]["event"]["id"]
    assert row["last_answer"].startswith("HTTP 200")


def test_events_not_in_the_rules_and_other_workspaces_events_are_not_sent(
    track, tenant, other_tenant, provider, client, run_on_commit
):
    webhook(tenant, provider.url)
    track({"event": "page_view", "visitor_id": "v1"})
    run_on_commit(
        lambda: client.post(
            "/api/track",
            data=json.dumps(purchase()),
            content_type="application/json",
            HTTP_X_CLARM_KEY=other_tenant.write_key,
            REMOTE_ADDR="8.8.8.8",
        )
    )
    assert provider.requests == []
    assert not DestinationDelivery.objects.exists()


def test_rung_reached_is_sent_once_when_a_customer_first_reaches_rung_4(track, tenant, provider):
    webhook(tenant, provider.url, rules=[{"on": "rung_reached", "rung": 4}])
    track({"event": "page_view", "visitor_id": "v-bob", "properties": {}})
    track({"event": "identify", "visitor_id": "v-bob", "properties": {"email": "bob@example.com"}})
    assert provider.requests == []  # rung 2 is not rung 4
    track({"event": "identify", "visitor_id": "v-bob", "properties": {"user_id": "acct-7"}})
    track({"event": "purchase", "visitor_id": "v-bob", "properties": {"amount": 5, "currency": "usd"}})
    assert len(provider.requests) == 1
    body = provider.requests[0].json()
    assert body["type"] == "customer.rung_reached" and body["data"]["rung"] == 4
    assert body["data"]["customer"]["customer_number"] == 1


# --- retries, Retry-After, the 72-hour pause --------------------------------------------------------


def test_retry_delays_are_about_1_5_30_seconds_then_exponential_and_honour_retry_after():
    for attempts, base in ((1, 1), (2, 5), (3, 30), (4, 60), (5, 120), (20, 3600)):
        assert base * 0.8 <= retry_delay(attempts) <= base * 1.2
    assert retry_delay(1, retry_after=120) >= 120


def test_503_is_retried_until_it_works_and_nothing_is_lost(track, tenant, provider):
    d = webhook(tenant, provider.url)
    provider.script = [Reply(503, {"error": "down"}), Reply(503, {"error": "down"})]
    track(purchase())
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.RETRYING and row.attempts == 1 and row.last_status_code == 503
    assert row.next_attempt_at is not None and row.first_attempt_at is not None
    first_wait = (row.next_attempt_at - row.first_attempt_at).total_seconds()
    assert 0.7 <= first_wait <= 1.3
    destination_flush(destination_id=d.pk, now=timezone.now() + timedelta(seconds=2))
    row.refresh_from_db()
    assert row.status == DeliveryState.RETRYING and row.attempts == 2
    assert row.next_attempt_at is not None
    assert 3.5 <= (row.next_attempt_at - timezone.now()).total_seconds() <= 8.5
    destination_flush(destination_id=d.pk, now=timezone.now() + timedelta(seconds=10))
    row.refresh_from_db()
    assert row.status == DeliveryState.DELIVERED and row.attempts == 3
    assert len(provider.requests) == 3
    # The same message id on every attempt, so the receiver can dedupe.
    assert len({s.headers["webhook-id"] for s in provider.requests}) == 1


def test_429_waits_for_retry_after_and_a_400_is_not_retried(track, tenant, provider):
    d = webhook(tenant, provider.url)
    provider.script = [Reply(429, {"error": "slow down"}, {"Retry-After": "120"}), Reply(400, {"error": "bad"})]
    track(purchase())
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.RETRYING
    assert row.next_attempt_at is not None
    assert (row.next_attempt_at - timezone.now()).total_seconds() >= 115
    # Not due yet: a flush now sends nothing.
    destination_flush(destination_id=d.pk)
    assert len(provider.requests) == 1
    destination_flush(destination_id=d.pk, now=timezone.now() + timedelta(seconds=121))
    row.refresh_from_db()
    assert row.status == DeliveryState.FAILED and row.next_attempt_at is None and "HTTP 400" in row.last_answer
    destination_flush(destination_id=d.pk, now=timezone.now() + timedelta(days=1))
    assert len(provider.requests) == 2


def test_a_destination_failing_for_72_hours_is_paused_and_the_owner_emailed(
    track, tenant, provider, django_capture_on_commit_callbacks
):
    d = webhook(tenant, provider.url)
    provider.default = Reply(503, {"error": "down"})
    track(purchase())
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.RETRYING
    later = timezone.now() + timedelta(hours=72, minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        destination_flush(destination_id=d.pk, now=later)
    d.refresh_from_db()
    row.refresh_from_db()
    assert d.status == DestinationStatus.FAILING
    assert row.status == DeliveryState.FAILED and row.last_answer.startswith("Gave up after 72 hours")
    (message,) = mail.outbox
    assert message.to == [tenant.owner.email] and "paused" in message.subject
    # Paused: new conversions wait as rows, nothing is sent, nothing lost.
    provider.default = Reply(200, {})
    sent = len(provider.requests)
    track(purchase(email="cat@example.com"))
    assert len(provider.requests) == sent
    waiting = DestinationDelivery.objects.filter(destination=d, status=DeliveryState.PENDING)
    assert waiting.count() == 1


def test_replay_sends_a_failed_delivery_again(track, tenant, provider, run_on_commit):
    from integrations.destinations.services import delivery_replay

    d = webhook(tenant, provider.url)
    provider.script = [Reply(404, {"error": "no such hook"})]
    track(purchase())
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.FAILED
    run_on_commit(lambda: delivery_replay(delivery=row, actor=tenant.owner))
    row.refresh_from_db()
    assert row.status == DeliveryState.DELIVERED and row.attempts == 2


# --- the SSRF guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://metadata.google.internal/",
        "http://user:pw@example.com/",
    ],
)
def test_private_addresses_are_refused_unless_allowed(api, settings, url):
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = False
    r = api(
        "post",
        "/api/destinations",
        {"provider": "webhook", "name": "x", "config": {"url": url}, "rules": [{"on": "event", "event": "purchase"}]},
    )
    assert r.status_code == 400
    assert "config.url" in r.json()["error"]


def test_a_redirect_to_a_private_address_is_refused_at_send_time(tenant, provider, settings, monkeypatch, track):
    d = webhook(tenant, provider.url)
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = False
    # The provider's own address passes as "public" here; where it redirects to does not.
    monkeypatch.setattr(ssrf, "address_public", lambda address: address == "127.0.0.1")
    provider.script = [Reply(307, {}, {"Location": "http://[::1]:80/internal"})]
    track(purchase())
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.FAILED
    assert "::1" in row.last_answer and "public addresses" in row.last_answer
    assert len(provider.requests) == 1


# --- an outage of the queue or of the provider never costs ingest anything ---------------------------


def test_with_the_queue_down_ingest_answers_and_the_sweep_sends_later(track, tenant, provider, monkeypatch):
    from integrations.destinations import dispatch
    from integrations.destinations.tasks import destinations_sweep

    d = webhook(tenant, provider.url)
    monkeypatch.setattr(dispatch, "process_soon", lambda workspace_id, event_ids: False)
    r = track(purchase())
    assert r.status_code == 202 and r.json()["accepted"] == 1
    row = DestinationDelivery.objects.get(destination=d)
    assert row.status == DeliveryState.PENDING and provider.requests == []
    assert destinations_sweep() == 1
    row.refresh_from_db()
    assert row.status == DeliveryState.DELIVERED and len(provider.requests) == 1


def test_a_broken_destination_feed_never_fails_ingest(track, tenant, provider, monkeypatch):
    from integrations.destinations import dispatch, hooks

    webhook(tenant, provider.url)
    monkeypatch.setattr(dispatch, "process_soon", lambda workspace_id, event_ids: False)

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(hooks, "deliveries_from_events", broken)
    r = track(purchase())
    assert r.status_code == 202 and r.json()["accepted"] == 1


def test_a_workspace_without_destinations_costs_ingest_no_query_after_the_first(tenant, django_assert_num_queries):
    from integrations.destinations.hooks import events_stitched

    with django_assert_num_queries(1):
        events_stitched(tenant.workspace.pk, [1, 2, 3])
    with django_assert_num_queries(0):
        events_stitched(tenant.workspace.pk, [4])


def test_when_a_failing_destination_answers_again_its_waiting_retries_are_due_at_once(track, tenant, provider):
    d = webhook(tenant, provider.url)
    provider.default = Reply(503, {"error": "down"})
    track(purchase(email="a@example.com"))
    DestinationDelivery.objects.filter(destination=d).update(next_attempt_at=timezone.now() + timedelta(minutes=50))
    provider.default = Reply(200, {})
    track(purchase(email="b@example.com"))  # a new conversion goes through: the receiver is back
    # ...and the one that waited for a retry 50 minutes away went right after it.
    rows = DestinationDelivery.objects.filter(destination=d)
    assert rows.count() == 2 and not rows.exclude(status=DeliveryState.DELIVERED).exists()
    assert len(provider.requests) == 3


def test_a_failing_destination_is_probed_one_delivery_at_a_time(track, tenant, provider):
    d = webhook(tenant, provider.url)
    provider.default = Reply(503, {"error": "down"})
    track({"batch": [purchase(email=f"p{i}@example.com", visitor_id=f"v{i}") for i in range(5)]})
    first = len(provider.requests)
    assert first == 5  # not known to fail yet: the chunk went out
    d.refresh_from_db()
    assert d.failing_since is not None
    destination_flush(destination_id=d.pk, now=timezone.now() + timedelta(seconds=3))
    assert len(provider.requests) == first + 1  # known to fail: one probe per flush
