import base64
from urllib.parse import parse_qs

import pytest

from agents.messaging import sms_send
from agents.models import Channel, Conversation, Direction, Message, MessageStatus
from identity.models import Customer
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.optout import sms_intent
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN, customer_of, fixture_json, timeline
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest


def form_with(workspace, *, email="dana.whitfield@example.com", phone="+14155550123"):
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(event="page_view", source="web", visitor_id="dev-1", occurred_at="2024-06-20T16:00:00Z"),
            EventInput(
                event="form_submit",
                source="web",
                visitor_id="dev-1",
                email=email,
                phone=phone,
                occurred_at="2024-06-20T16:01:00Z",
            ),
        ],
    )
    return Customer.objects.get(workspace=workspace, email=email, status="live")


def queued_sms(customer, body, *, marketing):
    """An outbound SMS waiting in the queue for `customer`."""
    return Message.objects.create(
        workspace=customer.workspace,
        customer=customer,
        channel=Channel.SMS,
        direction=Direction.OUT,
        body=body,
        marketing=marketing,
        status=MessageStatus.QUEUED,
    )


def test_inbound_sms_is_a_phone_channel_signal(tenant, twilio_a, post_twilio):
    params = fixture_json("twilio_sms_inbound.json")
    response = post_twilio(tenant.workspace, params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert b"<Response>" in response.content
    event = Event.objects.get(message_id="clarm:twilio:SM9f1e4b2c7a8d3e6f5a4b3c2d1e0f9a8b")
    assert event.source == "channel" and event.event == "sms_received"
    assert event.properties["body"] == "Hi, is Saturday still free for the move?"
    customer = customer_of(tenant.workspace, event.message_id)
    assert customer.rung == 3 and event.rung == 3 and customer.phone == "+14155550123"
    message = Message.objects.get(customer=customer)
    assert message.direction == Direction.IN and message.channel == Channel.SMS
    assert message.status == MessageStatus.RECEIVED and message.provider_message_id == params["MessageSid"]
    assert Conversation.objects.filter(customer=customer, channel=Channel.SMS).count() == 1


def test_whatsapp_from_the_form_phone_is_recognised_instantly(tenant, twilio_a, post_twilio):
    known = form_with(tenant.workspace)
    assert known.rung == 2
    post_twilio(tenant.workspace, fixture_json("twilio_whatsapp_inbound.json"))
    customer = customer_of(tenant.workspace, "clarm:twilio:SMa1b2c3d4e5f60718293a4b5c6d7e8f90")
    assert customer.pk == known.pk and customer.rung == 3
    assert [(e.event, e.rung) for e in timeline(customer)] == [
        ("page_view", 0),
        ("form_submit", 2),
        ("whatsapp_received", 3),
    ]
    assert Message.objects.get(customer=customer).channel == Channel.WHATSAPP


def test_forged_and_missing_twilio_signatures_store_nothing(tenant, twilio_a, post_twilio):
    params = fixture_json("twilio_sms_inbound.json")
    assert post_twilio(tenant.workspace, params, token="wrong-token").status_code == 401
    missing = post_twilio(tenant.workspace, params, signature="")
    assert missing.status_code == 400 and "X-Twilio-Signature" in missing.json()["error"]
    # A valid signature for other parameters does not cover these.
    altered = dict(params, Body="STOP")
    from django.conf import settings

    from integrations.twilio.client import signature_compute

    sig = signature_compute(
        auth_token=TWILIO_TOKEN,
        url=settings.CLARM_PUBLIC_URL + f"/hooks/twilio/{tenant.workspace.slug}/",
        params=params,
    )
    assert post_twilio(tenant.workspace, altered, signature=sig).status_code == 401
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()


def test_redelivered_inbound_sms_is_processed_once(tenant, twilio_a, post_twilio):
    params = fixture_json("twilio_sms_inbound.json")
    post_twilio(tenant.workspace, params)
    post_twilio(tenant.workspace, params)
    assert WebhookDelivery.objects.count() == 1
    assert Event.objects.filter(event="sms_received").count() == 1
    assert Message.objects.count() == 1


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit"])
def test_stop_keywords_opt_out_and_cancel_queued_marketing(body, tenant, twilio_a, post_twilio):
    customer = form_with(tenant.workspace)
    queued = queued_sms(customer, "Summer sale", marketing=True)
    reminder = queued_sms(customer, "Your move is tomorrow", marketing=False)
    post_twilio(tenant.workspace, dict(fixture_json("twilio_sms_inbound.json"), Body=body))
    customer.refresh_from_db()
    assert customer.allow_marketing_sms is False
    queued.refresh_from_db()
    reminder.refresh_from_db()
    assert queued.status == MessageStatus.CANCELLED
    assert reminder.status == MessageStatus.QUEUED  # transactional messages still go
    opt_out = Event.objects.get(workspace=tenant.workspace, event="sms_opt_out")
    assert opt_out.customer_id == customer.pk and opt_out.source == "channel"


def test_start_re_allows_and_plain_language_opts_out(tenant, twilio_a, post_twilio):
    customer = form_with(tenant.workspace)
    base = fixture_json("twilio_sms_inbound.json")
    post_twilio(tenant.workspace, dict(base, Body="please stop", MessageSid="SM01", SmsSid="SM01"))
    customer.refresh_from_db()
    assert customer.allow_marketing_sms is False
    post_twilio(tenant.workspace, dict(base, Body="START", MessageSid="SM02", SmsSid="SM02"))
    customer.refresh_from_db()
    assert customer.allow_marketing_sms is True
    assert Event.objects.filter(event="sms_opt_in").count() == 1
    post_twilio(tenant.workspace, dict(base, Body="Can you stop by at 5 tomorrow?", MessageSid="SM03", SmsSid="SM03"))
    customer.refresh_from_db()
    assert customer.allow_marketing_sms is True
    post_twilio(tenant.workspace, dict(base, Body="Don't text me again", MessageSid="SM04", SmsSid="SM04"))
    customer.refresh_from_db()
    assert customer.allow_marketing_sms is False
    names = [e.event for e in timeline(customer) if e.source == "channel"]
    assert names == [
        "sms_received",
        "sms_opt_out",
        "sms_received",
        "sms_opt_in",
        "sms_received",
        "sms_received",
        "sms_opt_out",
    ]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("STOP", "opt_out"),
        ("unstop", "opt_in"),
        ("stop texting me", "opt_out"),
        ("Please stop!!", "opt_out"),
        ("unsubscribe me please", "opt_out"),
        ("do not contact me", "opt_out"),
        ("remove me from your list", "opt_out"),
        ("Stop by the office at 5?", None),
        ("Don't stop the booking", None),
        ("The move should end by 3pm", None),
        ("", None),
    ],
)
def test_opt_out_phrase_matcher(text, intent):
    assert sms_intent(text) == intent


def test_status_callbacks_update_the_message_and_timeline(tenant, twilio_a, post_twilio):
    customer = form_with(tenant.workspace)
    message = Message.objects.create(
        workspace=tenant.workspace,
        customer=customer,
        channel=Channel.SMS,
        direction=Direction.OUT,
        body="Quote attached",
        status=MessageStatus.SENT,
        provider_message_id="SM0123456789abcdef0123456789abcdef",
    )
    post_twilio(tenant.workspace, fixture_json("twilio_status_delivered.json"))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    delivered = Event.objects.get(event="message_delivered")
    assert delivered.customer_id == customer.pk and delivered.rung == 3
    post_twilio(tenant.workspace, fixture_json("twilio_status_undelivered.json"))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "30003" in message.error
    # "sent"/"queued" callbacks carry nothing for the timeline: stored and ignored.
    post_twilio(
        tenant.workspace, dict(fixture_json("twilio_status_delivered.json"), MessageStatus="sent", SmsStatus="sent")
    )
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.IGNORED).count() == 1


def test_missed_call_lands_on_the_caller(tenant, twilio_a, post_twilio):
    customer = form_with(tenant.workspace)
    post_twilio(tenant.workspace, fixture_json("twilio_call_missed.json"))
    event = Event.objects.get(event="call_missed")
    assert event.customer_id == customer.pk and event.properties["title"] == "Missed call"
    customer.refresh_from_db()
    assert customer.rung == 3


def test_outbound_sms_goes_through_the_twilio_sdk(
    tenant, twilio_a, provider_api, settings, django_capture_on_commit_callbacks
):
    settings.CLARM_TWILIO_API_URL = provider_api.url
    provider_api.status = 201
    provider_api.body = fixture_json("twilio_message_create_response.json")
    customer = form_with(tenant.workspace)
    with django_capture_on_commit_callbacks(execute=True):
        message = sms_send(
            workspace=tenant.workspace, customer_id=customer.pk, body="Your quote: $1,800", actor=tenant.owner
        )
    [request] = provider_api.requests
    assert request["method"] == "POST"
    assert request["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    form = parse_qs(request["body"])
    assert form["To"] == ["+14155550123"] and form["From"] == ["+14155550100"]
    assert form["Body"] == ["Your quote: $1,800"]
    assert form["StatusCallback"][0].endswith(f"/hooks/twilio/{tenant.workspace.slug}/")
    auth = request["headers"]["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    sent = Event.objects.get(event="message_sent")
    assert sent.source == "channel" and sent.customer_id == customer.pk
    customer.refresh_from_db()
    assert customer.rung == 3


def test_outbound_whatsapp_and_refusals(tenant, twilio_a, provider_api, settings, django_capture_on_commit_callbacks):
    from integrations.services import IntegrationInputError

    settings.CLARM_TWILIO_API_URL = provider_api.url
    provider_api.status = 201
    provider_api.body = fixture_json("twilio_message_create_response.json")
    customer = form_with(tenant.workspace)
    with django_capture_on_commit_callbacks(execute=True):
        sms_send(workspace=tenant.workspace, customer_id=customer.pk, body="Hi!", channel=Channel.WHATSAPP)
    form = parse_qs(provider_api.requests[0]["body"])
    assert form["To"] == ["whatsapp:+14155550123"] and form["From"] == ["whatsapp:+14155238886"]
    Customer.objects.filter(pk=customer.pk).update(allow_marketing_sms=False)
    with pytest.raises(IntegrationInputError, match="opted out"):
        sms_send(workspace=tenant.workspace, customer_id=customer.pk, body="Sale!", marketing=True)
    # Twilio refusing the number (400) fails the message with Twilio's reason; nothing is retried.
    provider_api.status = 400
    provider_api.body = {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}
    with django_capture_on_commit_callbacks(execute=True):
        failed = sms_send(workspace=tenant.workspace, customer_id=customer.pk, body="Reminder")
    failed.refresh_from_db()
    assert failed.status == MessageStatus.FAILED and "21211" in failed.error
    assert len(provider_api.requests) == 2
