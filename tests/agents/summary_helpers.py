"""Two weeks of a small business, written through the real pipeline for the weekly summary's tests:
web events through the edge (`events_ingest`, stitched inline as in every test), payments and
bookings as the Stripe and Calendly receivers record them (`integrations.events.event_input`),
WhatsApp messages as the Twilio receiver records them (the event, then the message in the person's
conversation), replies as sent messages, the FAQ topics agent's scan, then the rollup processor."""

import datetime
import itertools

from agents.messaging import message_inbound_record, message_outbound_record
from agents.models import Message
from agents.runner import workspace_scan
from identity.models import Customer
from identity.rollups.processor import rollups_advance
from integrations.events import event_input
from tracking.inputs import EventInput
from tracking.services import events_ingest

SITE = "https://sakura.example"
SPRING = f"{SITE}/?utm_source=google&utm_medium=cpc&utm_campaign=spring"
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
_ids = itertools.count(1)


def ingest(workspace, *events: EventInput) -> None:
    result = events_ingest(workspace=workspace, events=list(events))
    assert not result.rejected, result.rejected


def page(workspace, visitor: str, at: datetime.datetime, url: str, *, user_agent: str | None = None) -> None:
    ingest(
        workspace,
        EventInput(
            event="page_view",
            source="web",
            occurred_at=at,
            visitor_id=visitor,
            session_id=f"s-{visitor}-{at:%d}",
            url=url,
            user_agent=user_agent,
            message_id=f"m{next(_ids)}",
        ),
    )


def form(workspace, visitor: str, at: datetime.datetime, *, email: str, name: str, phone: str | None = None) -> None:
    ingest(
        workspace,
        EventInput(
            event="form_submit",
            source="web",
            occurred_at=at,
            visitor_id=visitor,
            email=email,
            phone=phone,
            traits={"name": name},
            url=f"{SITE}/quote",
            properties={"form": "quote"},
            message_id=f"m{next(_ids)}",
        ),
    )


def paid(workspace, email: str, at: datetime.datetime, minor: int, *, refund: bool = False) -> None:
    name = "payment_refunded" if refund else "payment_received"
    ingest(
        workspace,
        event_input(
            event=name,
            source="webhook",
            provider="stripe",
            message_id=f"stripe:evt_{next(_ids)}",
            occurred_at=at,
            email=email,
            properties={"provider": "stripe", "amount": minor / 100, "amount_minor": minor, "currency": "usd"},
            account_signal=not refund,
        ),
    )


def booked(workspace, email: str, at: datetime.datetime) -> None:
    ingest(
        workspace,
        event_input(
            event="booking_created",
            source="webhook",
            provider="calendly",
            message_id=f"calendly:invitee.created:{next(_ids)}",
            occurred_at=at,
            email=email,
            properties={"provider": "calendly", "start_time": (at + datetime.timedelta(days=3)).isoformat()},
            account_signal=True,
        ),
    )


def whatsapp_in(workspace, phone: str, at: datetime.datetime, body: str) -> Message:
    """What the Twilio receiver does with an inbound WhatsApp message, at `at`; then the agents' scan."""
    sid = f"SM{next(_ids):032d}"
    ingest(
        workspace,
        event_input(
            event="whatsapp_received",
            source="channel",
            provider="twilio",
            message_id=f"twilio:{sid}",
            occurred_at=at,
            phone=phone,
            properties={"channel": "whatsapp", "body": body, "title": "WhatsApp message received"},
            phone_channel=True,
        ),
    )
    customer = Customer.objects.get(workspace=workspace, phone=phone, status="live")
    message = message_inbound_record(
        workspace=workspace, customer=customer, channel="whatsapp", body=body, provider_message_id=sid, at=at
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)  # received then, not when the test ran
    workspace_scan(workspace=workspace, now=at + datetime.timedelta(minutes=1))
    message.refresh_from_db()
    return message


def whatsapp_out(workspace, phone: str, at: datetime.datetime, body: str) -> Message:
    customer = Customer.objects.get(workspace=workspace, phone=phone, status="live")
    return message_outbound_record(workspace=workspace, customer=customer, channel="whatsapp", body=body, at=at)


def rollups(workspace) -> None:
    """The rollup processor, until it has counted everything (as its queued runs would)."""
    while rollups_advance(workspace_id=workspace.pk):
        pass
