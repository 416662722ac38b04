"""Whatever the broker does (refuses, never answers), a provider or an ingest client gets its answer
within 2 s; what was stored is processed by the sweep once the broker is back."""

import datetime
import functools
import json
import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.webchat import widget_save
from identity.models import ConsentRecord
from identity.privacy.services import consent_records_resume
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.services import connection_save
from integrations.tasks import deliveries_resume
from tests.integrations.conftest import STRIPE_SECRET, SendGridKeys, fixture_text, stripe_header
from tests.security.conftest import answered_within, broker_back
from tracking.models import Event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only(reason="cuts the Redis broker; the embedded default publishes to the filesystem broker"),
]

LIMIT_SECONDS = 2.0


@pytest.fixture
def stripe_connected(tenant):
    connection_save(
        workspace=tenant.workspace,
        provider="stripe",
        values={"api_key": "sk_test_51Abc", "webhook_secret": STRIPE_SECRET},
        actor=tenant.owner,
    )
    return tenant


@pytest.fixture
def warm(tenant):
    """One request of each kind first, so the timing measures the broker, not first-use imports
    (a freshly started web process has done them before it takes traffic)."""
    Client().post(f"/hooks/stripe/{tenant.workspace.slug}/", "{}", content_type="application/json")
    page_view = json.dumps({"event": "page_view", "visitor_id": "v-warm", "message_id": "m-warm"})
    Client().post("/api/track", page_view, content_type="application/json", HTTP_X_CLARM_KEY=tenant.write_key)


def _post_stripe(workspace, payload: str):
    return Client().post(
        f"/hooks/stripe/{workspace.slug}/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_header(payload),
    )


@pytest.mark.parametrize("kind", ["blackhole", "refused"])
def test_webhook_answers_within_2s_with_the_broker_down_and_the_sweep_processes_it(
    stripe_connected, warm, broker_down, kind
):
    broker_down(kind)
    payload = fixture_text("stripe_invoice_paid.json")
    response = answered_within(LIMIT_SECONDS, lambda: _post_stripe(stripe_connected.workspace, payload))
    assert response.status_code == 200 and response.json()["stored"] == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RECEIVED  # stored, not processed: nothing was queued
    assert not Event.objects.filter(source="webhook").exists()

    broker_back()
    WebhookDelivery.objects.update(received_at=timezone.now() - datetime.timedelta(minutes=11))
    assert deliveries_resume() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert Event.objects.filter(message_id="clarm:stripe:evt_1PqN1b2eZvKYlo2CzXcVbNmA").count() == 1


def test_a_burst_of_webhooks_with_the_broker_hanging_each_answers_within_2s(stripe_connected, warm, broker_down):
    broker_down("blackhole")
    for n in range(5):
        payload = json.dumps(
            {"id": f"evt_burst_{n}", "type": "customer.created", "created": int(time.time()), "data": {"object": {}}}
        )
        response = answered_within(LIMIT_SECONDS, functools.partial(_post_stripe, stripe_connected.workspace, payload))
        assert response.status_code == 200
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED).count() == 5


def test_a_sendgrid_batch_with_the_broker_hanging_answers_within_2s(tenant, warm, broker_down):
    """Many deliveries in one request: after the first publish times out the rest are left to the
    sweep at once, instead of waiting one timeout each."""
    keys = SendGridKeys()
    connection_save(
        workspace=tenant.workspace,
        provider="sendgrid",
        values={"verification_key": keys.verification_key},
        actor=tenant.owner,
    )
    events = [
        {"email": f"p{n}@example.com", "event": "open", "timestamp": int(time.time()) - n, "sg_event_id": f"sg-{n}"}
        for n in range(20)
    ]
    body = json.dumps(events)
    broker_down("blackhole")

    def post():
        ts = str(int(time.time()))
        headers: dict[str, Any] = {
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": keys.sign(body, ts),
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": ts,
        }
        path = f"/hooks/sendgrid/{tenant.workspace.slug}/"
        return Client().post(path, body, content_type="application/json", **headers)

    response = answered_within(LIMIT_SECONDS, post)
    assert response.status_code == 200
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED).count() == 20


def test_ingest_answers_within_2s_with_the_broker_down_and_the_sweep_records_consent(tenant, warm, broker_down):
    broker_down("blackhole")
    body = json.dumps(
        {
            "event": "consent_given",
            "visitor_id": "v-1",
            "message_id": "m-consent-1",
            "properties": {"choice": "granted", "version": "v3", "text": "We use cookies."},
        }
    )

    def post():
        return Client().post(
            "/api/track",
            body,
            content_type="application/json",
            HTTP_X_CLARM_KEY=tenant.write_key,
            REMOTE_ADDR="8.8.8.8",
        )

    response = answered_within(LIMIT_SECONDS, post)
    assert response.status_code == 202 and response.json()["accepted"] == 1
    # A grant is recorded by its task only (an opt-out is applied in the request itself), and that
    # task could not be sent.
    assert not ConsentRecord.objects.exists()

    broker_back()
    assert consent_records_resume() == 0  # too recent: its task may still be on its way
    Event.objects.update(received_at=timezone.now() - datetime.timedelta(minutes=11))
    assert consent_records_resume() == 1
    record = ConsentRecord.objects.get(source_event_id=Event.objects.get(event="consent_given").pk)
    assert record.choice == "granted"
    assert consent_records_resume() == 0  # recorded once


def test_a_chat_widget_message_answers_within_2s_with_the_broker_hanging(tenant, warm, broker_down):
    """The widget stitches in the request (it needs the visitor's customer), so the processors'
    publishes after the stitch are in the request too: each is bounded."""
    widget_save(workspace=tenant.workspace, enabled=True, color="#0a7d4f", greeting="Hi")
    broker_down("blackhole")
    body = json.dumps({"visitor_id": "v-" + "w" * 10, "message_id": "m-" + "w" * 10, "body": "Do you deliver?"})

    def post():
        return Client().post(
            f"/api/widget/messages?key={tenant.write_key}", body, content_type="text/plain", REMOTE_ADDR="8.8.8.8"
        )

    response = answered_within(LIMIT_SECONDS, post)
    assert response.status_code == 201, response.content
    assert Event.objects.filter(event="message_sent").count() == 1


def test_a_plain_delay_from_a_page_gives_up_within_3s(broker_down):
    """Pages and beat send with `.delay()` (one retry): a hanging broker costs them about 2 s."""
    from kombu.exceptions import OperationalError

    broker_down("blackhole")
    started = time.monotonic()
    with pytest.raises(OperationalError):
        deliveries_resume.delay()
    assert time.monotonic() - started < 3
