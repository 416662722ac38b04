"""The webhook probes of issue 11 (the bad bodies an outside probe sent), kept as regressions.

Verified bodies of an unexpected shape are either processed or rejected with a reason the owner sees
on the delivery log; one bad event of a batch never blocks the others; provider ids of any length
never collide; a batch is one transaction and one task; Twilio's JSON webhooks are verified as the
SDK does; every provider shares one ±300 s signature window."""

import copy
import datetime
import hashlib
import json
import time
from unittest import mock
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from twilio.request_validator import RequestValidator

from identity.models import Customer
from integrations.inbound import SIGNATURE_TOLERANCE_SECONDS
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import (
    CALENDLY_KEY,
    TWILIO_TOKEN,
    customer_of,
    fixture_json,
    fixture_text,
    stripe_header,
)
from tests.integrations.test_pages import member_of
from tests.integrations.test_sendgrid_calendly import post_sendgrid
from tracking.models import Event

# --- 6. verified bodies of an unexpected shape ----------------------------------------------------


def test_stripe_signed_array_body_is_a_400_and_the_owner_sees_why(tenant, stripe_a, post_stripe):
    response = post_stripe(tenant.workspace, "[1,2]")
    assert response.status_code == 400  # was 500
    assert "not a Stripe event" in response.json()["error"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.REJECTED and "not a Stripe event" in delivery.last_error
    assert not Event.objects.exists()
    # The same body again is the same rejected delivery, answered the same way.
    again = post_stripe(tenant.workspace, "[1,2]")
    assert again.status_code == 400 and WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "evt_1", "type": "invoice.paid"}',  # no created, no data
        '{"id": 7, "type": "invoice.paid", "created": 1718900000, "data": {"object": {}}}',
        '{"id": "evt_2", "type": "invoice.paid", "created": 1e300, "data": {"object": {}}}',
        '{"id": "evt_3", "type": "invoice.paid", "created": 1718900000, "data": {"object": [1]}}',
        "null",
        '"evt"',
    ],
)
def test_stripe_signed_bodies_of_other_shapes_are_rejected_with_a_reason(tenant, stripe_a, post_stripe, body):
    response = post_stripe(tenant.workspace, body)
    assert response.status_code == 400 and response.json()["error"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.REJECTED


@pytest.mark.parametrize("digits", [13, 5000])
def test_a_signature_timestamp_of_thousands_of_digits_is_a_400(tenant, generic_a, post_signed, digits):
    body = fixture_text("generic_deal_won.json")
    secret = generic_a.credentials["secret"]
    response = post_signed("generic", tenant.workspace, body, secret=secret, header=f"t={'1' * digits},v1=00")
    assert response.status_code == 400 and "Malformed X-Clarm-Signature header" in response.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_stripe_header_of_thousands_of_digits_is_a_400(tenant, stripe_a, post_stripe):
    payload = fixture_text("stripe_invoice_paid.json")
    response = post_stripe(tenant.workspace, payload, header=f"t={'9' * 5000},v1=abc")
    assert response.status_code == 400 and "Malformed Stripe-Signature header" in response.json()["error"]


def _sendgrid_event(n: int, **fields) -> dict:
    return {
        "email": f"reader{n}@example.com",
        "timestamp": int(time.time()) - 60,
        "event": "open",
        "sg_event_id": f"sg-open-{n}",
        "sg_message_id": f"msg-{n}",
        **fields,
    }


def test_nul_in_a_sendgrid_event_id_does_not_lose_the_batch(tenant, sendgrid_a, sendgrid_keys, hook):
    batch = [_sendgrid_event(1), _sendgrid_event(2, sg_event_id="sg-\u0000-nul"), _sendgrid_event(3)]
    payload = json.dumps(batch)
    response = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload)
    assert response.status_code == 200  # was 503 forever
    assert response.json() == {"status": "stored", "stored": 3, "duplicates": 0}
    statuses = set(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.PROCESSED}
    assert Event.objects.filter(workspace=tenant.workspace, event="email_opened").count() == 3
    shown = WebhookDelivery.objects.get(event_key=hashlib.sha256(b"sg-\x00-nul").hexdigest())
    assert shown.provider_event_id == "sg-\ufffd-nul"  # readable; the key is the hash of the real id
    # SendGrid's retry of the same batch is three duplicates, nothing stored twice.
    again = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload).json()
    assert again == {"status": "duplicate", "stored": 0, "duplicates": 3}
    assert Event.objects.filter(workspace=tenant.workspace).count() == 3


def test_one_bad_event_in_a_sendgrid_batch_never_blocks_the_others(tenant, sendgrid_a, sendgrid_keys, hook):
    batch = [
        _sendgrid_event(1),
        "not an event",
        _sendgrid_event(3, sg_event_id=None),
        _sendgrid_event(4, timestamp=1e20),  # a timestamp no calendar holds
        _sendgrid_event(5, email={"nested": True}, reason="x\u0000y"),
        _sendgrid_event(6),
    ]
    before = datetime.datetime.now(tz=datetime.UTC)
    response = post_sendgrid(hook, tenant.workspace, sendgrid_keys, json.dumps(batch))
    assert response.status_code == 200
    answer = response.json()
    assert answer["stored"] == 4 and [r["index"] for r in answer["rejected"]] == [1, 2]
    assert "JSON object" in answer["rejected"][0]["error"] and "sg_event_id" in answer["rejected"][1]["error"]
    rows = [(d.provider_event_id, d.status) for d in WebhookDelivery.objects.order_by("id")]
    processed = [(f"sg-open-{n}", DeliveryStatus.PROCESSED) for n in (1, 4, 5, 6)]  # 5: its odd email is kept out
    assert sorted(rows) == [("", DeliveryStatus.REJECTED)] * 2 + processed
    huge = Event.objects.get(workspace=tenant.workspace, message_id="clarm:sendgrid:sg-open-4")
    assert huge.occurred_at >= before  # was: failed every retry; now the receive time
    odd = Event.objects.get(workspace=tenant.workspace, message_id="clarm:sendgrid:sg-open-5")
    assert odd.properties["reason"] == "x\ufffdy" and odd.customer is None


def test_nul_in_generic_properties_is_processed_not_retried_forever(tenant, generic_a, post_signed):
    body = json.dumps(
        {"id": "nul-1", "event": "note", "email": "nul@example.com", "properties": {"n\u0000": "a\u0000b"}}
    )
    response = post_signed("generic", tenant.workspace, body, secret=generic_a.credentials["secret"])
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.attempts == 1
    event = Event.objects.get(workspace=tenant.workspace, message_id="clarm:generic:nul-1")
    assert event.properties == {"n\ufffd": "a\ufffdb"}


def test_non_numeric_twilio_counts_are_processed(tenant, twilio_a, post_twilio):
    sms = {**fixture_json("twilio_sms_inbound.json"), "NumMedia": "many", "Body": "hi\u0000there"}
    assert post_twilio(tenant.workspace, sms).status_code == 200
    call = {**fixture_json("twilio_call_missed.json"), "CallDuration": "12s"}
    assert post_twilio(tenant.workspace, call).status_code == 200
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    received = Event.objects.get(workspace=tenant.workspace, event="sms_received")
    assert "media" not in received.properties and received.properties["body"] == "hi\ufffdthere"
    missed = Event.objects.get(workspace=tenant.workspace, event="call_missed")
    assert "duration_seconds" not in missed.properties


def test_nul_in_a_twilio_sid_is_stored_and_processed(tenant, twilio_a, post_twilio):
    sms = {**fixture_json("twilio_sms_inbound.json"), "MessageSid": "SM\u0000nul", "SmsSid": "SM\u0000nul"}
    assert post_twilio(tenant.workspace, sms).status_code == 200  # was 503 forever
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.provider_event_id == "SM\ufffdnul"
    assert Event.objects.filter(workspace=tenant.workspace, event="sms_received").count() == 1
    assert post_twilio(tenant.workspace, sms).status_code == 200  # Twilio's retry: a duplicate
    assert WebhookDelivery.objects.count() == 1


def test_a_mapping_bug_is_rejected_at_once_and_replayable(tenant, stripe_a, post_stripe):
    """A body our mapping cannot read (here a Stripe object whose details are a string) is rejected
    on the first attempt, with the reason, instead of failing every retry for an hour."""
    event = fixture_json("stripe_invoice_paid.json")
    event["data"]["object"]["customer_details"] = "not an object"
    event["data"]["object"]["billing_details"] = None
    post_stripe(tenant.workspace, json.dumps(event))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.REJECTED and delivery.attempts == 1
    assert "AttributeError" in delivery.last_error


def test_the_owner_sees_rejected_deliveries_with_filters(tenant, other_tenant, stripe_a, generic_a, client, hook):
    from tests.integrations.conftest import stripe_header as sign

    hook(f"/hooks/stripe/{tenant.workspace.slug}/", "[1,2]", HTTP_STRIPE_SIGNATURE=sign("[1,2]"))
    good = fixture_text("stripe_invoice_paid.json")
    hook(f"/hooks/stripe/{tenant.workspace.slug}/", good, HTTP_STRIPE_SIGNATURE=sign(good))
    url = reverse("integrations:deliveries", kwargs={"ws": tenant.workspace.slug})
    member = member_of(tenant.workspace)
    client.force_login(member)  # a member reads the log
    page = client.get(url).content.decode()
    assert "not a Stripe event" in page and "invoice.paid" in page and "Rejected" in page
    only_rejected = client.get(url, {"status": "rejected"}).content.decode()
    assert "not a Stripe event" in only_rejected and "invoice.paid" not in only_rejected
    only_generic = client.get(url, {"provider": "generic"}).content.decode()
    assert "No deliveries match" in only_generic
    ignored_filter = client.get(url, {"status": "<script>", "provider": "x"})
    assert ignored_filter.status_code == 200 and "invoice.paid" in ignored_filter.content.decode()
    # Another workspace's log: 404, and its member never sees A's deliveries.
    client.force_login(other_tenant.owner)
    assert client.get(url).status_code == 404
    other = client.get(reverse("integrations:deliveries", kwargs={"ws": other_tenant.workspace.slug}))
    assert other.status_code == 200 and "not a Stripe event" not in other.content.decode()
    assert WebhookDelivery.objects.filter(workspace=other_tenant.workspace).count() == 0


def test_staff_replay_a_rejected_delivery_once_fixed(tenant, stripe_a, post_stripe, admin_user, client):
    from integrations.stripe import webhooks as stripe_hooks

    payload = fixture_text("stripe_invoice_paid.json")
    with mock.patch.dict(stripe_hooks.HANDLERS, {"invoice.paid": mock.Mock(side_effect=KeyError("amount"))}):
        post_stripe(tenant.workspace, payload)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.REJECTED and delivery.attempts == 1
    client.force_login(admin_user)
    with mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, using=None: fn()):
        response = client.post(
            reverse("admin:integrations_webhookdelivery_changelist"),
            {"action": "replay", "_selected_action": [delivery.pk]},
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert Event.objects.filter(
        workspace=tenant.workspace, message_id="clarm:stripe:evt_1PqN1b2eZvKYlo2CzXcVbNmA"
    ).exists()


# --- 7. provider ids longer than 255 characters -----------------------------------------------------


def test_two_calendly_bookings_whose_ids_share_255_characters_are_both_kept(tenant, calendly_a, post_signed):
    base = fixture_json("calendly_invitee_created.json")
    prefix = "https://api.calendly.com/scheduled_events/" + "A" * 260 + "/invitees/"
    answers = []
    for n, email in ((1, "first@example.com"), (2, "second@example.com")):
        data = copy.deepcopy(base)
        data["payload"]["uri"] = f"{prefix}{n}"
        data["payload"]["email"] = email
        data["payload"]["text_reminder_number"] = None  # a shared phone would link the two people
        answers.append(post_signed("calendly", tenant.workspace, json.dumps(data), secret=CALENDLY_KEY).json())
    assert [a["status"] for a in answers] == ["stored", "stored"]  # the second was "duplicate" and lost
    deliveries = WebhookDelivery.objects.order_by("id")
    assert [len(d.provider_event_id) for d in deliveries] == [len("invitee.created:") + len(prefix) + 1] * 2
    bookings = Event.objects.filter(workspace=tenant.workspace, event="booking_created")
    assert bookings.count() == 2
    assert {customer_of(tenant.workspace, e.message_id).email for e in bookings} == {
        "first@example.com",
        "second@example.com",
    }
    assert all((e.message_id or "").startswith("clarm:calendly:sha256:") for e in bookings)


# --- 8. a batch is one transaction and one task ----------------------------------------------------


def test_a_sendgrid_batch_of_1000_is_one_transaction_and_one_task(
    tenant, sendgrid_a, sendgrid_keys, client, django_capture_on_commit_callbacks
):
    batch = [_sendgrid_event(n, event="delivered") for n in range(1000)]
    payload = json.dumps(batch)
    ts = str(int(time.time()))
    with (
        mock.patch("integrations.tasks.webhook_process.apply_async") as publish,
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            f"/hooks/sendgrid/{tenant.workspace.slug}/",
            data=payload,
            content_type="application/json",
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=sendgrid_keys.sign(payload, ts),
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=ts,
        )
    assert response.json() == {"status": "stored", "stored": 1000, "duplicates": 0}
    assert publish.call_count == 1 and len(publish.call_args.kwargs["args"][0]) == 1000  # was 1,000 enqueues
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1  # the connection's last event time
    if connection.vendor == "postgresql":
        assert len(inserts) == 1  # the 1,000 deliveries: one statement (rows as one JSON parameter)
        assert len(queries.captured_queries) <= 12
    else:  # SQLite: bulk_create splits by its bound-variable limit, still one transaction
        assert len(inserts) <= 1000 // 50
    assert WebhookDelivery.objects.filter(workspace=tenant.workspace, status=DeliveryStatus.RECEIVED).count() == 1000


def test_a_batch_is_processed_by_one_ingest(tenant, sendgrid_a, sendgrid_keys, hook):
    from integrations.sendgrid import webhooks as sendgrid_hooks

    batch = [_sendgrid_event(n) for n in range(1, 4)] + [_sendgrid_event(4, event="unsubscribe")]
    batch.append(_sendgrid_event(5, event="group_resubscribe"))  # a type we do not use
    with mock.patch.object(
        sendgrid_hooks, "events_ingest_stitched", wraps=sendgrid_hooks.events_ingest_stitched
    ) as ingest:
        post_sendgrid(hook, tenant.workspace, sendgrid_keys, json.dumps(batch))
    assert ingest.call_count == 1 and len(ingest.call_args.kwargs["events"]) == 4
    statuses = dict(WebhookDelivery.objects.values_list("provider_event_id", "status"))
    assert statuses == {**{f"sg-open-{n}": DeliveryStatus.PROCESSED for n in range(1, 5)}, "sg-open-5": "ignored"}
    unsubscribed = customer_of(tenant.workspace, "clarm:sendgrid:sg-open-4")
    assert unsubscribed.email == "reader4@example.com" and unsubscribed.allow_marketing_email is False
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_a_batch_that_fails_together_is_processed_one_by_one_and_only_the_failed_retried(
    tenant, sendgrid_a, sendgrid_keys, hook
):
    from integrations.sendgrid import webhooks as sendgrid_hooks

    real = sendgrid_hooks._input
    calls: dict[str, int] = {}

    def flaky(mapping, item):
        calls[item["sg_event_id"]] = calls.get(item["sg_event_id"], 0) + 1
        if item["sg_event_id"] == "sg-open-2" and calls["sg-open-2"] <= 2:
            raise ConnectionError("database hiccup")  # the batch, then its own first try
        return real(mapping, item)

    with mock.patch.object(sendgrid_hooks, "_input", flaky):
        post_sendgrid(hook, tenant.workspace, sendgrid_keys, json.dumps([_sendgrid_event(n) for n in (1, 2, 3)]))
    attempts = dict(WebhookDelivery.objects.values_list("provider_event_id", "attempts"))
    assert attempts == {"sg-open-1": 1, "sg-open-2": 2, "sg-open-3": 1}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    assert Event.objects.filter(workspace=tenant.workspace, event="email_opened").count() == 3


# --- 10. Twilio JSON webhooks signed with ?bodySHA256= ----------------------------------------------


def _twilio_json(hook, workspace, body: str, *, tamper: str | None = None, with_hash: bool = True):
    digest = hashlib.sha256(body.encode()).hexdigest()
    path = f"/hooks/twilio/{workspace.slug}/" + (f"?bodySHA256={quote(digest)}" if with_hash else "")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(settings.CLARM_PUBLIC_URL + path, {})
    return hook(path, tamper if tamper is not None else body, "application/json", HTTP_X_TWILIO_SIGNATURE=signature)


def test_twilio_json_webhook_signed_with_body_sha256_is_accepted(tenant, twilio_a, hook):
    body = json.dumps(fixture_json("twilio_sms_inbound.json"))
    response = _twilio_json(hook, tenant.workspace, body)
    assert response.status_code == 200  # was 415
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED and delivery.event_type == "message.inbound"
    event = Event.objects.get(workspace=tenant.workspace, event="sms_received")
    assert event.properties["body"] == "Hi, is Saturday still free for the move?"
    assert event.customer is not None and Customer.objects.get(pk=event.customer.pk).rung == 3
    # Re-delivered: a duplicate, processed once.
    assert _twilio_json(hook, tenant.workspace, body).status_code == 200
    assert WebhookDelivery.objects.count() == 1 and Event.objects.filter(event="sms_received").count() == 1


def test_twilio_json_webhook_with_a_changed_body_or_no_hash_is_refused(tenant, twilio_a, hook):
    body = json.dumps(fixture_json("twilio_sms_inbound.json"))
    tampered = body.replace("Saturday", "Sunday")
    assert _twilio_json(hook, tenant.workspace, body, tamper=tampered).status_code == 401
    no_hash = _twilio_json(hook, tenant.workspace, body, with_hash=False)
    assert no_hash.status_code == 400 and "bodySHA256" in no_hash.json()["error"]
    assert not WebhookDelivery.objects.exists()
    # Signed, but not an object of parameters: stored as rejected, named.
    rejected = _twilio_json(hook, tenant.workspace, "[1,2]")
    assert rejected.status_code == 400 and "JSON object" in rejected.json()["error"]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.REJECTED


# --- 11. one ±300 s tolerance for every provider ----------------------------------------------------


def _signed_post(provider, tenant, connections, hook, sendgrid_keys, *, offset: int):
    t = int(time.time()) + offset
    ws = tenant.workspace.slug
    if provider == "stripe":
        body = fixture_text("stripe_invoice_paid.json")
        return hook(f"/hooks/stripe/{ws}/", body, HTTP_STRIPE_SIGNATURE=stripe_header(body, timestamp=t))
    if provider == "sendgrid":
        body = json.dumps([_sendgrid_event(1)])
        return hook(
            f"/hooks/sendgrid/{ws}/",
            body,
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=sendgrid_keys.sign(body, str(t)),
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=str(t),
        )
    from integrations.inbound import timestamped_hmac_header

    if provider == "calendly":
        body = fixture_text("calendly_invitee_created.json")
        header = timestamped_hmac_header(body=body, secret=CALENDLY_KEY, timestamp=t)
        return hook(f"/hooks/calendly/{ws}/", body, HTTP_CALENDLY_WEBHOOK_SIGNATURE=header)
    body = fixture_text("generic_deal_won.json")
    header = timestamped_hmac_header(body=body, secret=connections["generic"].credentials["secret"], timestamp=t)
    return hook(f"/hooks/generic/{ws}/", body, HTTP_X_CLARM_SIGNATURE=header)


@pytest.mark.parametrize("provider", ["stripe", "sendgrid", "calendly", "generic"])
@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(3600, False), (330, False), (-330, False), (270, True), (-270, True)],
)
def test_every_provider_shares_one_tolerance_in_the_past_and_the_future(
    provider, offset, accepted, tenant, stripe_a, sendgrid_a, calendly_a, generic_a, sendgrid_keys, hook
):
    assert SIGNATURE_TOLERANCE_SECONDS == 300
    connections = {"generic": generic_a}
    response = _signed_post(provider, tenant, connections, hook, sendgrid_keys, offset=offset)
    if accepted:
        assert response.status_code == 200
        assert WebhookDelivery.objects.count() == 1
    else:
        assert response.status_code == 401  # a Stripe signature an hour ahead was accepted
        assert "tolerance" in response.json()["error"]
        assert not WebhookDelivery.objects.exists()
