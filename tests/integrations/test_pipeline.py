"""The shared webhook pipeline: verify → store raw → answer → process (retry, replay), region, tenants."""

import json
import time
from unittest import mock

import pytest
from django.contrib.admin.sites import site
from django.db import DatabaseError
from django.test import RequestFactory

from integrations.admin import WebhookDeliveryAdmin
from integrations.models import Connection, DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import STRIPE_SECRET, customer_of, fixture_json, fixture_text
from tracking.models import Event
from workspaces.models import AuditLog


def test_generic_webhook_signed_as_documented(tenant, generic_a, post_signed):
    secret = generic_a.credentials["secret"]
    payload = fixture_text("generic_deal_won.json")
    response = post_signed("generic", tenant.workspace, payload, secret=secret)
    assert response.status_code == 200, response.content
    event = Event.objects.get(workspace=tenant.workspace, message_id="clarm:generic:crm-deal-4471-won")
    assert event.event == "deal_won" and event.source == "webhook"
    assert event.occurred_at.isoformat() == "2024-06-22T10:15:00+00:00"
    customer = customer_of(tenant.workspace, "clarm:generic:crm-deal-4471-won")
    assert customer.rung == 4 and customer.email == "dana.whitfield@example.com"


def test_generic_webhook_refuses_bad_signatures_and_bad_bodies(tenant, generic_a, post_signed):
    secret = generic_a.credentials["secret"]
    payload = fixture_text("generic_deal_won.json")
    assert post_signed("generic", tenant.workspace, payload, secret="not-the-secret").status_code == 401
    old = post_signed("generic", tenant.workspace, payload, secret=secret, timestamp=int(time.time()) - 301)
    assert old.status_code == 401 and "tolerance" in old.json()["error"]
    missing = post_signed("generic", tenant.workspace, payload, secret=secret, header="")
    assert missing.status_code == 400 and "X-Clarm-Signature" in missing.json()["error"]
    malformed = post_signed("generic", tenant.workspace, payload, secret=secret, header="sha256=abc")
    assert malformed.status_code == 400
    no_id = json.dumps({"event": "deal_won"})
    bad = post_signed("generic", tenant.workspace, no_id, secret=secret)
    assert bad.status_code == 400 and "'id'" in bad.json()["error"]
    bad_ladder = json.dumps({"id": "x1", "event": "e", "ladder": "email"})
    assert post_signed("generic", tenant.workspace, bad_ladder, secret=secret).status_code == 400
    impossible_date = json.dumps({"id": "x2", "event": "e", "occurred_at": "2024-02-30T10:00:00Z"})
    answer = post_signed("generic", tenant.workspace, impossible_date, secret=secret)
    assert answer.status_code == 400 and "'occurred_at'" in answer.json()["error"]
    not_json = post_signed("generic", tenant.workspace, "{not json", secret=secret)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert not Event.objects.exists()
    # The verified but unusable bodies are kept as rejected, with the reason the owner sees.
    rejected = WebhookDelivery.objects.order_by("id")
    assert [d.status for d in rejected] == [DeliveryStatus.REJECTED] * 4
    assert "'id'" in rejected[0].last_error and "not JSON" in rejected[3].last_error


def test_unknown_provider_workspace_or_connection_is_404(client, tenant, stripe_a):
    payload = fixture_text("stripe_invoice_paid.json")
    for path in (f"/hooks/paypal/{tenant.workspace.slug}/", "/hooks/stripe/no-such-workspace/"):
        response = client.post(path, data=payload, content_type="application/json")
        assert response.status_code == 404 and "Unknown webhook endpoint" in response.json()["error"]
    response = client.post(f"/hooks/calendly/{tenant.workspace.slug}/", data=payload, content_type="application/json")
    assert response.status_code == 404  # calendly is not connected
    assert client.get(f"/hooks/stripe/{tenant.workspace.slug}/").status_code == 405


def test_workspace_of_another_region_is_refused_without_storing(tenant, stripe_a, post_stripe, settings):
    tenant.workspace.region = "us"
    tenant.workspace.save(update_fields=["region"])
    settings.CLARM_REGION = "eu"
    response = post_stripe(tenant.workspace, fixture_text("stripe_invoice_paid.json"))
    assert response.status_code == 403 and "region us" in response.json()["error"]
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()


def test_store_failure_answers_503_so_the_provider_retries(tenant, stripe_a, post_stripe):
    payload = fixture_text("stripe_invoice_paid.json")
    with mock.patch("integrations.services.deliveries_insert", side_effect=DatabaseError("disk full")):
        response = post_stripe(tenant.workspace, payload)
    assert response.status_code == 503 and "retry" in response.json()["error"]
    assert not Event.objects.exists()
    # Stripe's retry then goes through.
    assert post_stripe(tenant.workspace, payload).json()["status"] == "stored"
    assert Event.objects.filter(message_id="clarm:stripe:evt_1PqN1b2eZvKYlo2CzXcVbNmA").exists()


def test_processing_failure_is_recorded_retried_and_replayable(tenant, stripe_a, post_stripe, admin_user, rf):
    from integrations.stripe import webhooks as stripe_hooks

    payload = fixture_text("stripe_payment_intent_succeeded.json")
    broken = mock.Mock(side_effect=RuntimeError("mapping exploded"))
    with mock.patch.dict(stripe_hooks.HANDLERS, {"payment_intent.succeeded": broken}):
        response = post_stripe(tenant.workspace, payload)
    # The raw delivery was stored before we answered: the provider gets a 2xx, we keep the failure.
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "mapping exploded" in delivery.last_error
    assert delivery.attempts == 7  # first try + 6 retries with backoff (run at once in eager mode)
    assert broken.call_count == 7
    assert not Event.objects.exists()

    # Staff replay from the admin once the cause is fixed.
    request = rf.post("/admin/integrations/webhookdelivery/")
    request.user = admin_user
    request._messages = mock.MagicMock()
    from django.test.utils import CaptureQueriesContext  # noqa: F401

    admin = WebhookDeliveryAdmin(WebhookDelivery, site)
    with mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, using=None: fn()):
        admin.replay(request, WebhookDelivery.objects.filter(pk=delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.last_error == ""
    assert Event.objects.filter(message_id="clarm:stripe:evt_3PqLmN2eZvKYlo2C0Xb1aB9c").count() == 1
    assert AuditLog.objects.filter(workspace=tenant.workspace, action="webhook.replayed").exists()

    # Replaying a processed delivery changes nothing.
    with mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, using=None: fn()):
        admin.replay(request, WebhookDelivery.objects.filter(pk=delivery.pk))
    assert Event.objects.filter(workspace=tenant.workspace).count() == 1


def test_transient_failure_succeeds_on_retry(tenant, stripe_a, post_stripe):
    from integrations.stripe import webhooks as stripe_hooks

    real = stripe_hooks.HANDLERS["invoice.paid"]
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database hiccup")
        return real(**kwargs)

    with mock.patch.dict(stripe_hooks.HANDLERS, {"invoice.paid": flaky}):
        post_stripe(tenant.workspace, fixture_text("stripe_invoice_paid.json"))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.attempts == 2
    assert Event.objects.filter(message_id="clarm:stripe:evt_1PqN1b2eZvKYlo2CzXcVbNmA").count() == 1


def test_credentials_are_encrypted_at_rest(tenant, stripe_a):
    row = Connection.objects.get(pk=stripe_a.pk)
    assert STRIPE_SECRET not in row.credentials_encrypted and "sk_test_51Abc" not in row.credentials_encrypted
    assert row.credentials["webhook_secret"] == STRIPE_SECRET


@pytest.mark.parametrize("provider", ["stripe", "generic"])
def test_another_workspace_hook_with_a_secret_signature_is_refused(
    provider, tenant, other_tenant, stripe_a, generic_a, post_stripe, post_signed
):
    from integrations.services import connection_save

    b_stripe = connection_save(
        workspace=other_tenant.workspace,
        provider="stripe",
        values={"api_key": "sk_test_B", "webhook_secret": "whsec_of_b"},
        actor=other_tenant.owner,
    )
    b_generic = connection_save(workspace=other_tenant.workspace, provider="generic", values={}, actor=None)
    if provider == "stripe":
        # A's payload signed with A's secret, sent to B's URL.
        response = post_stripe(other_tenant.workspace, fixture_text("stripe_invoice_paid.json"), secret=STRIPE_SECRET)
    else:
        response = post_signed(
            "generic",
            other_tenant.workspace,
            fixture_text("generic_deal_won.json"),
            secret=generic_a.credentials["secret"],
        )
    assert response.status_code == 401
    assert not WebhookDelivery.objects.filter(workspace=other_tenant.workspace).exists()
    assert not Event.objects.filter(workspace=other_tenant.workspace).exists()
    b_stripe.refresh_from_db()
    b_generic.refresh_from_db()
    assert b_stripe.last_event_at is None and b_generic.last_event_at is None


def test_oversized_body_is_413(tenant, stripe_a, client):
    body = json.dumps({**fixture_json("stripe_invoice_paid.json"), "pad": "x" * (1024 * 1024)})
    response = client.post(
        f"/hooks/stripe/{tenant.workspace.slug}/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=a",
    )
    assert response.status_code == 413 and not WebhookDelivery.objects.exists()


@pytest.fixture
def rf():
    return RequestFactory()


def test_deliveries_stored_while_the_queue_was_down_are_resumed(tenant, stripe_a, post_stripe):
    import datetime

    from integrations.tasks import deliveries_resume

    with mock.patch("integrations.tasks.webhook_process.apply_async", side_effect=OSError("broker down")):
        response = post_stripe(tenant.workspace, fixture_text("stripe_invoice_paid.json"))
    assert response.status_code == 200  # stored; the queue outage does not change the answer
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RECEIVED
    assert deliveries_resume() == 0  # too recent to be called stuck
    WebhookDelivery.objects.update(received_at=delivery.received_at - datetime.timedelta(minutes=11))
    assert deliveries_resume() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert Event.objects.filter(message_id="clarm:stripe:evt_1PqN1b2eZvKYlo2CzXcVbNmA").count() == 1
