"""Helpers for the conversations and agents tests: people who came through a form, inbound messages."""

import datetime
from urllib.parse import parse_qs

from django.utils import timezone

from agents.messaging import message_inbound_record
from agents.models import Conversation, Message
from identity.models import Customer
from tests.integrations.conftest import ProviderApi, fixture_json
from tracking.inputs import EventInput
from tracking.services import events_ingest

_inbound = iter(range(1, 1_000_000))


def person(workspace, *, email="dana.whitfield@example.com", phone="+14155550123", visitor="dev-1") -> Customer:
    """A customer who filled a form with an email and a phone."""
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(
                event="form_submit",
                source="web",
                visitor_id=visitor,
                email=email,
                phone=phone or None,
                occurred_at="2024-06-20T16:01:00Z",
            )
        ],
    )
    return Customer.objects.get(workspace=workspace, email=email, status="live")


def inbound(customer, body, *, channel="sms", at: datetime.datetime | None = None) -> Message:
    """A message the person sent us (as the Twilio/SendGrid webhooks record it)."""
    return message_inbound_record(
        workspace=customer.workspace,
        customer=customer,
        channel=channel,
        body=body,
        provider_message_id=f"SMin{next(_inbound):030d}",
        at=at or timezone.now(),
    )


def thread_of(message: Message) -> Conversation:
    """The conversation an inbound message was filed in."""
    assert message.conversation is not None
    return message.conversation


def twilio_accepts(provider_api, settings) -> None:
    settings.CLARM_TWILIO_API_URL = provider_api.url
    provider_api.status = 201
    provider_api.body = fixture_json("twilio_message_create_response.json")


class TwilioStandIn(ProviderApi):
    """Twilio's Messages API on 127.0.0.1, answering 201 with a new SID for every message."""

    sent = 0

    def __init__(self) -> None:
        super().__init__()
        self.status = 201

    @property
    def body(self) -> dict:
        self.sent += 1
        return {**fixture_json("twilio_message_create_response.json"), "sid": f"SM{self.sent:032x}"}

    @body.setter
    def body(self, value: dict) -> None:
        pass

    def texts(self) -> list[dict]:
        """The form of each message created: To, From, Body…"""
        return [{k: v[0] for k, v in parse_qs(r["body"]).items()} for r in self.requests]


def booking(workspace, *, email, start: datetime.datetime, uri: str, cancelled=False, phone=None) -> None:
    """A Calendly-shaped booking (or its cancellation) on the person's timeline."""
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(
                event="booking_cancelled" if cancelled else "booking_created",
                source="webhook",
                email=email,
                phone=phone,
                occurred_at=timezone.now(),
                properties={
                    "provider": "calendly",
                    "invitee_uri": uri,
                    "start_time": start.isoformat(),
                    "meeting": "Move estimate",
                },
            )
        ],
    )
