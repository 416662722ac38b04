"""Sending queued messages through their provider (the worker's side of agents.messaging), and
logging each one that left on the person's timeline (`message_sent` / `email_sent`)."""

import json
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agents.emaildelivery import email_deliver
from agents.models import Channel, Direction, Message, MessageStatus
from integrations.errors import MessageSendRetryable
from integrations.events import EventRejected, event_input
from integrations.models import Connection, Provider
from integrations.twilio.client import TwilioSendError, TwilioUnavailable, message_create
from tracking.inputs import EventInput
from tracking.models import Source
from tracking.services import events_ingest

PHONE_CHANNELS = (Channel.SMS, Channel.WHATSAPP)


def message_deliver(*, message_id: int) -> str:
    """Send one queued message through its provider, once. Returns the message status afterwards."""
    message, status = _deliver_once(message_id)
    if message is not None and status == MessageStatus.SENT:
        _sent_event_record(message)
    return status


def messages_deliver(*, message_ids: list[int]) -> dict[int, str]:
    """Send queued messages, each once, then log every one that left in ONE ingest call. A message
    whose provider failed temporarily is left queued and returned as "retry"."""
    statuses: dict[int, str] = {}
    sent: list[Message] = []
    for pk in message_ids:
        try:
            message, status = _deliver_once(pk)
        except MessageSendRetryable:
            statuses[pk] = "retry"
            continue
        statuses[pk] = status
        if message is not None and status == MessageStatus.SENT:
            sent.append(message)
    by_workspace: dict[int, list[Message]] = {}
    for message in sent:
        by_workspace.setdefault(message.workspace_id, []).append(message)
    for messages in by_workspace.values():
        events_ingest(workspace=messages[0].workspace, events=[message_sent_event_input(m) for m in messages])
    return statuses


def _deliver_once(message_id: int) -> tuple[Message | None, str]:
    with transaction.atomic():
        message = (
            Message.objects.select_for_update().select_related("customer", "workspace").filter(pk=message_id).first()
        )
        if message is None or message.status != MessageStatus.QUEUED or message.direction != Direction.OUT:
            return None, message.status if message else "missing"
        customer = message.customer
        opted_out = (message.channel in PHONE_CHANNELS and not customer.allow_marketing_sms) or (
            message.channel == Channel.EMAIL and not customer.allow_marketing_email
        )
        if message.marketing and opted_out:
            message.status, message.error = MessageStatus.CANCELLED, "Customer opted out"
            message.save(update_fields=["status", "error", "updated_at"])
            return None, message.status
        if message.channel in PHONE_CHANNELS:
            _deliver_twilio(message)
        elif message.channel == Channel.EMAIL:
            email_deliver(message)
        message.updated_at = timezone.now()
        message.save()
        return message, message.status


def _deliver_twilio(message: Message) -> None:
    connection = Connection.objects.filter(workspace=message.workspace, provider=Provider.TWILIO).first()
    creds: dict[str, Any] = connection.credentials if connection else {}
    sender = creds.get("whatsapp_from" if message.channel == Channel.WHATSAPP else "sms_from", "")
    if not connection or not sender:
        message.status, message.error = (
            MessageStatus.FAILED,
            f"No Twilio {message.get_channel_display()} sender configured",
        )
        return
    prefix = "whatsapp:" if message.channel == Channel.WHATSAPP else ""
    callback = settings.CLARM_PUBLIC_URL + reverse(
        "integrations:hook", kwargs={"provider": "twilio", "ws": message.workspace.slug}
    )
    try:
        sent = message_create(
            account_sid=creds["account_sid"],
            auth_token=creds["auth_token"],
            from_=prefix + sender,
            to=prefix + message.customer.phone,
            body=message.body,
            status_callback=callback,
            content_sid=(message.template or {}).get("content_sid", ""),
            content_variables=json.dumps(message.template["variables"]) if message.template.get("variables") else "",
        )
    except TwilioUnavailable as exc:
        raise MessageSendRetryable(str(exc)) from exc
    except TwilioSendError as exc:
        message.status, message.error = MessageStatus.FAILED, str(exc)[:300]
        return
    message.status, message.provider_message_id, message.sent_at = MessageStatus.SENT, sent.sid, timezone.now()


def message_sent_event_input(message: Message) -> EventInput:
    customer = message.customer
    phone_channel = message.channel in PHONE_CHANNELS
    return event_input(
        provider="clarm",
        event="message_sent" if phone_channel else "email_sent",
        source=Source.CHANNEL if phone_channel else Source.EMAIL,
        message_id=f"message:{message.pk}:sent",
        occurred_at=message.sent_at,
        properties={
            "title": f"{message.get_channel_display()} sent",
            "channel": message.channel,
            "marketing": message.marketing,
            "message": message.pk,
            "provider_message_id": message.provider_message_id,
            **({"subject": message.subject} if message.subject else {}),
        },
        phone=customer.phone if phone_channel else None,
        email=customer.email if not phone_channel else None,
        phone_channel=phone_channel,
    )


def _sent_event_record(message: Message) -> None:
    result = events_ingest(workspace=message.workspace, events=[message_sent_event_input(message)])
    if result.rejected:
        raise EventRejected(str(result.rejected))
