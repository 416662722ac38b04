import json
import time

from identity.models import Customer
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import customer_of, fixture_json, fixture_text, stripe_header, timeline
from tracking.models import Event


def test_payment_lifts_the_visitor_to_rung_4_with_a_customer_number(tenant, stripe_a, post_stripe):
    payload = fixture_text("stripe_payment_intent_succeeded.json")
    response = post_stripe(tenant.workspace, payload)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "stored", "stored": 1, "duplicates": 0}

    delivery = WebhookDelivery.objects.get(workspace=tenant.workspace, provider="stripe")
    assert delivery.provider_event_id == "evt_3PqLmN2eZvKYlo2C0Xb1aB9c"
    assert delivery.body == payload  # the raw body, byte for byte
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.attempts == 1
    assert "Stripe-Signature" in delivery.headers and "Cookie" not in delivery.headers

    event = Event.objects.get(workspace=tenant.workspace, message_id="clarm:stripe:evt_3PqLmN2eZvKYlo2C0Xb1aB9c")
    assert event.source == "webhook" and event.event == "payment_received"
    assert event.properties["title"] == "Stripe payment received"
    assert event.properties["amount"] == 150.0 and event.properties["currency"] == "usd"
    assert event.occurred_at.timestamp() == 1718900000  # Stripe's own time, not arrival time
    customer = customer_of(tenant.workspace, event.message_id)
    assert customer.rung == 4 and event.rung == 4
    assert customer.customer_number == 1
    assert customer.email == "dana.whitfield@example.com"
    kinds = set(customer.identifiers.values_list("kind", flat=True))
    assert {"device", "email", "external"} <= kinds  # clarm visitor id, receipt email, stripe:cus_…


def test_payment_joins_the_web_visitor_named_in_metadata(tenant, stripe_a, post_stripe):
    from tracking.inputs import EventInput
    from tracking.services import events_ingest

    visitor = "v-3f1c9a7e-2b4d-4e8f-9a61-0c5d2e7b8a14"
    events_ingest(
        workspace=tenant.workspace,
        events=[EventInput(event="page_view", source="web", visitor_id=visitor, occurred_at="2024-06-20T15:00:00Z")],
    )
    post_stripe(tenant.workspace, fixture_text("stripe_payment_intent_succeeded.json"))
    customer = customer_of(tenant.workspace, "clarm:stripe:evt_3PqLmN2eZvKYlo2C0Xb1aB9c")
    names = [e.event for e in timeline(customer)]
    assert names == ["page_view", "payment_received"]


def test_duplicate_delivery_is_processed_once(tenant, stripe_a, post_stripe):
    payload = fixture_text("stripe_invoice_paid.json")
    assert post_stripe(tenant.workspace, payload).json()["status"] == "stored"
    again = post_stripe(tenant.workspace, payload)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "stored": 0, "duplicates": 1}
    assert WebhookDelivery.objects.filter(workspace=tenant.workspace).count() == 1
    assert Event.objects.filter(workspace=tenant.workspace, message_id__startswith="clarm:stripe:").count() == 1
    assert WebhookDelivery.objects.get().attempts == 1


def test_forged_missing_and_expired_signatures_store_nothing(tenant, stripe_a, post_stripe):
    payload = fixture_text("stripe_payment_intent_succeeded.json")
    forged = post_stripe(tenant.workspace, payload, secret="whsec_attacker")
    assert forged.status_code == 401 and "signature" in forged.json()["error"].lower()
    missing = post_stripe(tenant.workspace, payload, header="")
    assert missing.status_code == 400 and "Stripe-Signature" in missing.json()["error"]
    expired = post_stripe(tenant.workspace, payload, header=stripe_header(payload, timestamp=int(time.time()) - 600))
    assert expired.status_code == 401
    tampered = post_stripe(
        tenant.workspace, payload.replace("15000", "1"), header=stripe_header(payload)
    )  # signature of another body
    assert tampered.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not Event.objects.exists()


def test_out_of_order_subscription_events_order_by_stripe_time(tenant, stripe_a, post_stripe):
    # updated and deleted arrive before created; nothing breaks and the timeline reads in Stripe's order.
    for name in ("stripe_subscription_deleted.json", "stripe_subscription_updated.json", "stripe_invoice_paid.json"):
        assert post_stripe(tenant.workspace, fixture_text(name)).status_code == 200
    assert post_stripe(tenant.workspace, fixture_text("stripe_subscription_created.json")).status_code == 200
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    customer = customer_of(tenant.workspace, "clarm:stripe:evt_1PqN1c2eZvKYlo2CsUbCrEaT")
    assert [e.event for e in timeline(customer)] == [
        "subscription_started",
        "invoice_paid",
        "subscription_updated",
        "subscription_cancelled",
    ]
    assert Customer.objects.filter(workspace=tenant.workspace, status="live").count() == 1
    updated = Event.objects.get(message_id="clarm:stripe:evt_1PqP9x2eZvKYlo2CuPdAtEd1")
    assert updated.properties["plan"] == "Storage monthly"


def test_checkout_refund_and_customer_details(tenant, stripe_a, post_stripe):
    post_stripe(tenant.workspace, fixture_text("stripe_checkout_session_completed.json"))
    customer = customer_of(tenant.workspace, "clarm:stripe:evt_1PqM0a2eZvKYlo2CqWeRtYuI")
    assert customer.rung == 4 and customer.email == "marta.sousa@example.com"
    assert customer.phone == "+351912345678"
    post_stripe(tenant.workspace, fixture_text("stripe_charge_refunded.json"))
    refund = Event.objects.get(message_id="clarm:stripe:evt_3PqLmN2eZvKYlo2C1RfNdD01")
    assert refund.properties["title"] == "Stripe payment refunded" and refund.properties["amount"] == 50.0


def test_unused_event_types_are_stored_and_ignored(tenant, stripe_a, post_stripe):
    data = fixture_json("stripe_invoice_paid.json")
    data["id"], data["type"] = "evt_1Other000000000000000", "invoice.finalized"
    response = post_stripe(tenant.workspace, json.dumps(data))
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().status == DeliveryStatus.IGNORED
    assert not Event.objects.exists()
