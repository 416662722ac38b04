import json
import time

from identity.models import Customer
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import CALENDLY_KEY, customer_of, fixture_json, fixture_text, timeline
from tracking.models import Event


def post_sendgrid(hook, workspace, keys, payload, *, timestamp=None, signature=None):
    ts = str(int(time.time())) if timestamp is None else timestamp
    return hook(
        f"/hooks/sendgrid/{workspace.slug}/",
        payload,
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=signature if signature is not None else keys.sign(payload, ts),
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=ts,
    )


def test_sendgrid_batch_maps_each_event_once(tenant, sendgrid_a, sendgrid_keys, hook):
    payload = fixture_text("sendgrid_events.json")
    response = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "stored", "stored": 6, "duplicates": 0}
    statuses = dict(WebhookDelivery.objects.values_list("event_type", "status"))
    assert statuses["processed"] == DeliveryStatus.IGNORED and statuses["open"] == DeliveryStatus.PROCESSED

    dana = customer_of(tenant.workspace, "clarm:sendgrid:ZGVsaXZlcmVkLTAtMzY2NzM3NjEtZ2Y5VmZhb2ZUbW1MeUVzQ3NxUzJRQS0w")
    assert dana.rung == 2
    assert [e.event for e in timeline(dana)] == [
        "email_delivered",
        "email_opened",
        "email_clicked",
        "email_unsubscribed",
    ]
    assert all(e.source == "email" for e in timeline(dana))
    assert dana.allow_marketing_email is False  # the unsubscribe event
    bounce = Event.objects.get(event="email_bounced")
    assert bounce.properties["reason"].startswith("550 5.1.1")

    # SendGrid re-posts the same batch (it retries on timeouts): nothing new.
    again = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload)
    assert again.json() == {"status": "duplicate", "stored": 0, "duplicates": 6}
    assert Event.objects.filter(workspace=tenant.workspace, source="email").count() == 5


def test_sendgrid_spam_report_opts_out(tenant, sendgrid_a, sendgrid_keys, hook):
    spam = [{"email": "lee@example.com", "timestamp": 1718903000, "event": "spamreport", "sg_event_id": "c3BhbS0x"}]
    post_sendgrid(hook, tenant.workspace, sendgrid_keys, json.dumps(spam))
    assert Customer.objects.get(email="lee@example.com").allow_marketing_email is False


def test_sendgrid_forged_missing_and_old_signatures(tenant, sendgrid_a, sendgrid_keys, hook):
    from tests.integrations.conftest import SendGridKeys

    payload = fixture_text("sendgrid_events.json")
    other = SendGridKeys()
    assert post_sendgrid(hook, tenant.workspace, other, payload).status_code == 401
    ts = str(int(time.time()))
    wrong_body = post_sendgrid(
        hook,
        tenant.workspace,
        sendgrid_keys,
        payload.replace("open", "click"),
        signature=sendgrid_keys.sign(payload, ts),
        timestamp=ts,
    )
    assert wrong_body.status_code == 401
    missing = hook(f"/hooks/sendgrid/{tenant.workspace.slug}/", payload)
    assert missing.status_code == 400 and "Signature" in missing.json()["error"]
    garbage = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload, signature="not base64!")
    assert garbage.status_code == 401
    old = str(int(time.time()) - 4 * 24 * 3600)
    assert post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload, timestamp=old).status_code == 401
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()


def test_calendly_booking_cancel_and_no_show(tenant, calendly_a, post_signed):
    created = fixture_text("calendly_invitee_created.json")
    assert post_signed("calendly", tenant.workspace, created, secret=CALENDLY_KEY).status_code == 200
    booking = Event.objects.get(event="booking_created")
    assert booking.properties["title"] == "Calendly booking"
    assert booking.properties["meeting"] == "On-site survey (30 min)"
    customer = customer_of(tenant.workspace, booking.message_id)
    assert customer.rung == 4 and customer.customer_number == 1 and customer.name == "Marta Sousa"
    # The phone from the booking form is an identifier, and the booking (not the phone) made rung 4.
    assert "phone" in set(customer.identifiers.values_list("kind", flat=True))

    post_signed("calendly", tenant.workspace, fixture_text("calendly_invitee_no_show.json"), secret=CALENDLY_KEY)
    post_signed("calendly", tenant.workspace, fixture_text("calendly_invitee_canceled.json"), secret=CALENDLY_KEY)
    assert [e.event for e in timeline(customer)] == ["booking_created", "booking_cancelled", "booking_no_show"]
    cancelled = Event.objects.get(event="booking_cancelled")
    assert cancelled.properties["reason"] == "Found another date"
    # Duplicate delivery of the booking: processed once.
    post_signed("calendly", tenant.workspace, created, secret=CALENDLY_KEY)
    assert Event.objects.filter(event="booking_created").count() == 1


def test_calendly_signature_is_checked_with_the_shared_tolerance(tenant, calendly_a, post_signed):
    payload = fixture_text("calendly_invitee_created.json")
    assert post_signed("calendly", tenant.workspace, payload, secret="other-key").status_code == 401
    stale = post_signed("calendly", tenant.workspace, payload, secret=CALENDLY_KEY, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401
    missing = post_signed("calendly", tenant.workspace, payload, secret=CALENDLY_KEY, header="")
    assert missing.status_code == 400 and "Calendly-Webhook-Signature" in missing.json()["error"]
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()


def test_calendly_no_show_before_its_booking_fails_then_replays(tenant, calendly_a, post_signed):
    from integrations.deliveryprocess import delivery_process

    post_signed("calendly", tenant.workspace, fixture_text("calendly_invitee_no_show.json"), secret=CALENDLY_KEY)
    no_show = WebhookDelivery.objects.get(event_type="invitee_no_show.created")
    assert no_show.status == DeliveryStatus.FAILED and "No stored booking" in no_show.last_error
    post_signed("calendly", tenant.workspace, fixture_text("calendly_invitee_created.json"), secret=CALENDLY_KEY)
    assert delivery_process(delivery_id=no_show.pk) == DeliveryStatus.PROCESSED
    assert Event.objects.filter(event="booking_no_show").count() == 1


def test_fixture_payloads_are_real_shaped():
    data = fixture_json("calendly_invitee_created.json")
    assert data["payload"]["uri"].startswith("https://api.calendly.com/scheduled_events/")
