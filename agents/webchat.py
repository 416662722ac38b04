"""Writes of the chat widget (docs/agents.md, "Chat widget"): its settings, a visitor's message in
(through ingest as `message_sent`, so it lands on the same customer as the page views), and a reply
out over web chat (stored at once; the widget fetches it on its next poll).

A chat is scoped by a random token the widget keeps (only its SHA-256 is stored): it reads the web
chat messages of its customer since the session started, nothing else."""

import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass, replace

from django.db import transaction
from django.utils import timezone

from agents.messaging import conversation_touch, message_inbound_record
from agents.models import Channel, ChatWidget, Conversation, Direction, Message, MessageStatus, WidgetSession
from agents.selectors import thread_customer_ids, widget_token_hash
from identity.models import Customer
from identity.stitching.stitcher import events_ingest_stitched
from integrations.events import event_by_key, event_customer, event_input, event_record
from tracking.models import Source
from workspaces.models import Workspace

MAX_BODY = 2000
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# The snippet's device and session ids are UUIDs; anything id-shaped and short is accepted.
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SEEN_EVERY = datetime.timedelta(minutes=1)


class WidgetInputError(ValueError):
    """Bad input to the chat widget; `status` is the HTTP answer, the message names the problem."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def widget_save(*, workspace: Workspace, enabled: bool, color: str, greeting: str) -> ChatWidget:
    color, greeting = (color or "").strip(), (greeting or "").strip()
    if not COLOR.match(color):
        raise WidgetInputError("The colour must be a hex colour like #1a4fd6.")
    if not greeting:
        raise WidgetInputError("The greeting is empty.")
    if len(greeting) > 300:
        raise WidgetInputError("The greeting is longer than 300 characters.")
    widget, _ = ChatWidget.objects.update_or_create(
        workspace=workspace,
        defaults={"enabled": enabled, "color": color.lower(), "greeting": greeting, "updated_at": timezone.now()},
    )
    return widget


def _client_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not CLIENT_ID.match(value):
        raise WidgetInputError(f"{name} must be 8-64 letters, digits, - or _ (the snippet's id).")
    return value


@dataclass
class Received:
    message: Message
    session: WidgetSession
    token: str | None  # the new session's token, given once; None when the widget sent its own


def widget_message_receive(
    *,
    workspace: Workspace,
    session: WidgetSession | None,
    visitor_id: object,
    session_id: object,
    message_id: object,
    body: object,
) -> Received:
    """A visitor's message from the widget: logged through ingest as `message_sent` (source web, on the
    device's customer), stored as an inbound web chat message, and a chat session started when the
    widget has none. The widget's `message_id` makes a retry a no-op."""
    if not isinstance(body, str) or not body.strip():
        raise WidgetInputError("body: the message is empty.")
    text = body.strip()
    if len(text) > MAX_BODY:
        raise WidgetInputError(f"body: at most {MAX_BODY} characters.")
    client_message = _client_id(message_id, "message_id")
    vid = session.visitor_id if session else _client_id(visitor_id, "visitor_id")
    # The message id is the browser's own: keyed with its visitor id, so another browser sending the
    # same id (by chance or on purpose) stores its own message instead of claiming this one, its
    # answer and its customer. A retry (same browser, same id) is still a no-op.
    dedupe_key = "widget:" + hashlib.sha256(f"{vid}:{client_message}".encode()).hexdigest()
    item = event_input(
        event="message_sent",
        source=Source.WEB,
        provider="widget",
        message_id=dedupe_key,
        properties={"title": "Web chat message sent", "channel": Channel.WEB, "body": text},
        visitor_id=vid,
    )
    if isinstance(session_id, str) and CLIENT_ID.match(session_id):
        item = replace(item, session_id=session_id)
    events_ingest_stitched(workspace=workspace, events=[item])  # the chat needs its customer now
    customer = event_customer(event_by_key(workspace=workspace, item=item))
    if customer is None:
        raise WidgetInputError("This visitor opted out of tracking: the chat is off.", status=403)
    token = None
    with transaction.atomic():
        if session is None:
            token = secrets.token_urlsafe(24)
            session = WidgetSession.objects.create(
                workspace=workspace, customer=customer, token_hash=widget_token_hash(token), visitor_id=vid
            )
        message = message_inbound_record(
            workspace=workspace,
            customer=customer,
            channel=Channel.WEB,
            body=text,
            provider_message_id=dedupe_key,
            at=timezone.now(),
        )
    return Received(message=message, session=session, token=token)


def widget_session_seen(*, session: WidgetSession, now: datetime.datetime) -> None:
    """Mark the session alive (at most one write a minute per session)."""
    if now - session.last_seen_at >= SEEN_EVERY:
        WidgetSession.objects.filter(pk=session.pk).update(last_seen_at=now)


def widget_replies_delivered(*, messages: list[Message]) -> None:
    """Our replies the widget has just fetched are delivered."""
    ids = [m.pk for m in messages if m.direction == Direction.OUT and m.status == MessageStatus.SENT]
    if ids:
        Message.objects.filter(pk__in=ids).update(status=MessageStatus.DELIVERED, updated_at=timezone.now())


def webchat_reply(*, workspace: Workspace, customer: Customer, body: str, agent: str = "") -> Message:
    """Our message to a person over web chat: stored as sent, fetched by their widget on its next poll,
    on the timeline as `message_sent` (source channel) with the device of their latest chat."""
    session = (
        WidgetSession.objects.filter(
            workspace=workspace, customer_id__in=thread_customer_ids(workspace=workspace, customer=customer)
        )
        .order_by("-created_at")
        .first()
    )
    if session is None:
        raise WidgetInputError("This person has no web chat to reply to.")
    if not body:
        raise WidgetInputError("The message is empty.")
    now = timezone.now()
    conversation = conversation_touch(workspace=workspace, customer=session.customer, channel=Channel.WEB, at=now)
    message = Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        customer=session.customer,
        channel=Channel.WEB,
        direction=Direction.OUT,
        body=body,
        status=MessageStatus.SENT,
        agent=agent,
        sent_at=now,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
    visitor_id, pk = session.visitor_id, message.pk
    transaction.on_commit(lambda: _reply_event_record(workspace=workspace, message_pk=pk, visitor_id=visitor_id))
    return message


def _reply_event_record(*, workspace: Workspace, message_pk: int, visitor_id: str) -> None:
    message = Message.objects.get(pk=message_pk)
    event_record(
        workspace=workspace,
        provider="clarm",
        event="message_sent",
        source=Source.CHANNEL,
        message_id=f"message:{message.pk}:sent",
        occurred_at=message.sent_at,
        properties={"title": "Web chat reply sent", "channel": Channel.WEB, "message": message.pk},
        visitor_id=visitor_id,
    )
