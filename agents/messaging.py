"""Messages in and out (SMS, WhatsApp, email, voice): conversations, inbound and outbound records,
and queueing a message to send (sent by agents.messagetasks through agents.messagedelivery)."""

import datetime
import re
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.messagedelivery import PHONE_CHANNELS, message_sent_event_input
from agents.messagetasks import SEND_BATCH, message_send
from agents.models import Channel, Conversation, Direction, Message, MessageStatus
from agents.sentiment import sentiment_score
from identity.models import Customer
from integrations.errors import IntegrationInputError
from integrations.events import EventRejected
from integrations.models import Connection, Provider
from tracking.services import events_ingest
from workspaces.models import Workspace


def conversation_touch(
    *, workspace: Workspace, customer: Customer, channel: str, at: datetime.datetime
) -> Conversation:
    conversation, created = Conversation.objects.get_or_create(
        workspace=workspace, customer=customer, channel=channel, defaults={"started_at": at, "last_message_at": at}
    )
    if not created and conversation.last_message_at < at:
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=at)
    return conversation


def message_inbound_record(
    *,
    workspace: Workspace,
    customer: Customer,
    channel: str,
    body: str,
    provider_message_id: str,
    at: datetime.datetime,
) -> Message:
    conversation = conversation_touch(workspace=workspace, customer=customer, channel=channel, at=at)
    message, _ = Message.objects.get_or_create(
        workspace=workspace,
        channel=channel,
        provider_message_id=provider_message_id,
        defaults={
            "conversation": conversation,
            "customer": customer,
            "direction": Direction.IN,
            "body": body,
            "status": MessageStatus.RECEIVED,
            "sent_at": at,
            "sentiment": sentiment_score(body),
        },
    )
    return message


def message_outbound_record(
    *,
    workspace: Workspace,
    customer: Customer,
    channel: str,
    body: str,
    at: datetime.datetime,
    provider_message_id: str = "",
    agent: str = "",
) -> Message:
    """A message that already left, outside Clarm's send queue (sent from the provider's own app, or
    replayed by the demo): filed in the person's conversation as sent at `at`, and logged on their
    timeline as a message Clarm sent is (`message_sent` / `email_sent`)."""
    conversation = conversation_touch(workspace=workspace, customer=customer, channel=channel, at=at)
    message = Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        customer=customer,
        channel=channel,
        direction=Direction.OUT,
        body=body,
        status=MessageStatus.SENT,
        provider_message_id=provider_message_id,
        agent=agent,
        sent_at=at,
        created_at=at,
        updated_at=at,
    )
    result = events_ingest(workspace=workspace, events=[message_sent_event_input(message)])
    if result.rejected:
        raise EventRejected(str(result.rejected))
    return message


# --- outbound -----------------------------------------------------------------------------------


def _customer_in(workspace: Workspace, customer_id: int) -> Customer:
    customer = Customer.objects.filter(workspace=workspace, pk=customer_id).first()
    if customer is None:
        raise IntegrationInputError("No such customer in this workspace.")
    return customer


def _schedule(message: Message) -> None:
    eta = message.scheduled_at if message.scheduled_at and message.scheduled_at > timezone.now() else None
    batch = SEND_BATCH.get()
    if eta is None and batch is not None:
        pk = message.pk
        transaction.on_commit(lambda: batch.append(pk))
    elif eta is None:
        transaction.on_commit(lambda: message_send.delay(message.pk))
    else:
        transaction.on_commit(lambda: message_send.apply_async(args=(message.pk,), eta=eta))


@transaction.atomic
def sms_send(
    *,
    workspace: Workspace,
    customer_id: int,
    body: str,
    channel: str = Channel.SMS,
    marketing: bool = False,
    scheduled_at: datetime.datetime | None = None,
    actor: User | None = None,
    template: dict[str, Any] | None = None,
) -> Message:
    """Queue an SMS or WhatsApp message; it goes out through Twilio after commit (or at scheduled_at).
    With `template` (WhatsApp only) the approved template is sent and `body` is what the thread shows."""
    if channel not in PHONE_CHANNELS:
        raise IntegrationInputError("channel must be sms or whatsapp.")
    body = (body or "").strip()
    if template is not None:
        if channel != Channel.WHATSAPP:
            raise IntegrationInputError("template: approved templates are for WhatsApp only.")
        template = whatsapp_template_clean(template)
        body = body or whatsapp_template_preview(template)
    if not body:
        raise IntegrationInputError("The message is empty.")
    if len(body) > 1600:
        raise IntegrationInputError("The message is longer than 1600 characters.")
    customer = _customer_in(workspace, customer_id)
    if not customer.phone:
        raise IntegrationInputError("This customer has no phone number.")
    if marketing and not customer.allow_marketing_sms:
        raise IntegrationInputError("This customer has opted out of marketing SMS/WhatsApp.")
    if not Connection.objects.filter(workspace=workspace, provider=Provider.TWILIO).exists():
        raise IntegrationInputError("Connect Twilio first.")
    now = timezone.now()
    message = Message.objects.create(
        workspace=workspace,
        customer=customer,
        conversation=conversation_touch(workspace=workspace, customer=customer, channel=channel, at=now),
        channel=channel,
        direction=Direction.OUT,
        body=body,
        marketing=marketing,
        scheduled_at=scheduled_at,
        template=template or {},
    )
    _schedule(message)
    return message


@transaction.atomic
def email_send(
    *,
    workspace: Workspace,
    customer_id: int,
    subject: str,
    html_body: str,
    marketing: bool = False,
    scheduled_at: datetime.datetime | None = None,
    actor: User | None = None,
) -> Message:
    """Queue an email to a customer; it goes out after commit (or at scheduled_at) through Django's
    email backend (agents.emaildelivery: links tracked, an open pixel, List-Unsubscribe on marketing)."""
    customer = _customer_in(workspace, customer_id)
    if not customer.email:
        raise IntegrationInputError("This customer has no email address.")
    if marketing and not customer.allow_marketing_email:
        raise IntegrationInputError("This customer has unsubscribed from marketing email.")
    subject = (subject or "").strip()
    if not subject or len(subject) > 300:
        raise IntegrationInputError("The subject is required (at most 300 characters).")
    if not (html_body or "").strip():
        raise IntegrationInputError("The email body is empty.")
    now = timezone.now()
    message = Message.objects.create(
        workspace=workspace,
        customer=customer,
        conversation=conversation_touch(workspace=workspace, customer=customer, channel=Channel.EMAIL, at=now),
        channel=Channel.EMAIL,
        direction=Direction.OUT,
        subject=subject,
        body=html_body,
        marketing=marketing,
        scheduled_at=scheduled_at,
    )
    _schedule(message)
    return message


# Twilio's Content API limits (docs: "Using variables with Content Templates").
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9_]{1,16}$")
MAX_TEMPLATE_VARIABLES = 100
MAX_VARIABLE_VALUE = 255


def whatsapp_template_clean(template: Any) -> dict[str, Any]:
    """{"content_sid": "HX…", "variables": {"1": "Dana"}} checked against Twilio's documented shape;
    raises IntegrationInputError naming the field."""
    if not isinstance(template, dict):
        raise IntegrationInputError("template must be an object with content_sid and variables.")
    sid = str(template.get("content_sid") or "").strip()
    if not _CONTENT_SID.match(sid):
        raise IntegrationInputError("template.content_sid must be a Content Template SID (HX and 32 hex digits).")
    variables = template.get("variables") or {}
    if not isinstance(variables, dict) or len(variables) > MAX_TEMPLATE_VARIABLES:
        raise IntegrationInputError(f"template.variables must be an object of at most {MAX_TEMPLATE_VARIABLES} values.")
    clean: dict[str, str] = {}
    for key, value in variables.items():
        if not _VARIABLE_KEY.match(str(key)):
            raise IntegrationInputError(f"template.variables: “{key}” is not a variable name (letters, digits, _).")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise IntegrationInputError(f"template.variables.{key} must be text.")
        text = str(value).strip()
        if not text or len(text) > MAX_VARIABLE_VALUE:
            raise IntegrationInputError(f"template.variables.{key} must be 1-{MAX_VARIABLE_VALUE} characters.")
        clean[str(key)] = text
    return {"content_sid": sid, "variables": clean}


def whatsapp_template_preview(template: dict[str, Any]) -> str:
    values = ", ".join(f"{{{{{k}}}}} = {v}" for k, v in template["variables"].items())
    return f"WhatsApp template {template['content_sid']}" + (f" ({values})" if values else "")
