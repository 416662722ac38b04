"""Writes of conversations and agents: logging an agent's action on the timeline, replying to a person
over their channel, and the per-workspace agent settings.

Sends respect the person's preferences on that channel: a STOP (SMS/WhatsApp) or an unsubscribe
(email) refuses new sends and cancels queued ones, because every send from the Inbox, the API and the
agents is queued with `marketing=True`, the flag the privacy app cancels and the sender re-checks."""

import datetime
import html
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agents.availability import availability_parse
from agents.messagedelivery import PHONE_CHANNELS
from agents.messaging import email_send, sms_send
from agents.models import AgentSetting, Channel, Conversation, Message, ModelEndpoint
from agents.registry import ACTION_NAME, AGENT_NAME, AGENTS, agent_config, questions_parse
from agents.selectors import last_reply_channel, thread_customer_ids, whatsapp_window_open, widget_visitor_id
from agents.webchat import WidgetInputError, webchat_reply
from identity.models import Customer
from integrations.destinations.ssrf import DestinationUrlRefused, url_check
from integrations.events import event_record
from integrations.models import LinkChannel
from integrations.services import IntegrationInputError, link_create
from tracking.models import Event, Source
from workspaces.models import Workspace
from workspaces.services import audit_log_record

MAX_PROPERTIES_BYTES = 16_000
# A link in a text message: up to whitespace, without the punctuation that ends a sentence.
_TEXT_URL = re.compile(r"https?://[^\s<>\"']+?(?=[.,;:!?)\]]*(?:\s|$))")


class AgentInputError(ValueError):
    """Bad input to an agent write; the message names the problem."""


def _handle(customer: Customer) -> dict[str, str]:
    """An identifier that lands an event on this customer through ingest (for a person known only by
    a web chat, the device of their latest chat)."""
    if customer.phone:
        return {"phone": customer.phone}
    if customer.email:
        return {"email": customer.email}
    visitor_id = widget_visitor_id(workspace=customer.workspace, customer=customer)
    if visitor_id:
        return {"visitor_id": visitor_id}
    raise AgentInputError("This customer has no email or phone to log an agent action on.")


def agent_action_log(
    *,
    workspace: Workspace,
    agent: str,
    action: str,
    properties: dict[str, Any] | None = None,
    customer: Customer | None = None,
    identifier: dict[str, str] | None = None,
    key: str | None = None,
    occurred_at: datetime.datetime | None = None,
    traits: dict[str, Any] | None = None,
    account_signal: bool = False,
) -> Event:
    """Log one agent action as a `source: "agent"` event named `action` (through ingest, so identity
    and rungs follow the usual rules: `traits` land on the person, `account_signal` (a booking) lifts
    them to the account rung). `key` makes a retry of the same action a no-op."""
    if not AGENT_NAME.match(agent or ""):
        raise AgentInputError("agent must be 1-40 lowercase letters, digits, _ or -, starting with a letter.")
    if not ACTION_NAME.match(action or ""):
        raise AgentInputError("action must be snake_case (lowercase letters, digits, _), at most 64 characters.")
    props = dict(properties or {})
    if len(repr(props)) > MAX_PROPERTIES_BYTES:
        raise AgentInputError(f"properties are larger than {MAX_PROPERTIES_BYTES} bytes.")
    handle = identifier if identifier is not None else _handle(customer) if customer else None
    if not handle:
        raise AgentInputError("A customer is required.")
    event = event_record(
        workspace=workspace,
        # An agent's action follows the person's analytics choice (tracking.purposes): an opted-out
        # person's timeline gets no agent events.
        provider="agent",
        event=action,
        source=Source.AGENT,
        message_id=f"agent:{key or uuid.uuid4().hex}",
        occurred_at=occurred_at,
        properties={**props, "agent": agent},
        traits=traits,
        account_signal=account_signal,
        **handle,
    )
    if event is None:
        raise AgentInputError("The action was not recorded.")
    return event


def agent_action_log_quiet(**fields: Any) -> Event | None:
    """`agent_action_log`, or None when the event cannot be recorded (the person opted out of
    analytics, or has no identifier an event can land on): the conversation goes on regardless."""
    try:
        return agent_action_log(**fields)
    except AgentInputError:
        return None


@transaction.atomic
def conversation_reply(
    *,
    workspace: Workspace,
    customer: Customer,
    body: str,
    channel: str | None = None,
    subject: str = "",
    actor: User | None = None,
    agent: str = "",
    scheduled_at: datetime.datetime | None = None,
    template: dict[str, Any] | None = None,
) -> Message:
    """Send `body` to the person over `channel` (default: the channel of their last message), or an
    approved WhatsApp `template` ({"content_sid", "variables"}; `body` then only shows it in the
    thread), the one message WhatsApp allows outside its 24-hour window.

    Raises IntegrationInputError naming the problem: no such channel for the person, opted out,
    WhatsApp outside its 24-hour window without a template, no provider connected."""
    body = (body or "").strip()
    chosen = channel or last_reply_channel(workspace=workspace, customer=customer)
    if chosen is None:
        raise IntegrationInputError("This customer has no phone or email to reply to.")
    if chosen not in (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEB):
        raise IntegrationInputError("channel must be sms, whatsapp, email or web.")
    if template is not None and chosen != Channel.WHATSAPP:
        raise IntegrationInputError("template: approved templates are for WhatsApp only.")
    if chosen == Channel.WEB:
        # A chat the person started on the site: no marketing preference applies, nothing to queue.
        try:
            message = webchat_reply(workspace=workspace, customer=customer, body=body, agent=agent)
        except WidgetInputError as exc:
            raise IntegrationInputError(str(exc)) from None
        if not agent:
            _needs_human_clear(workspace, customer)
        return message
    if chosen in PHONE_CHANNELS and not customer.allow_marketing_sms:
        raise IntegrationInputError("This customer replied STOP (or opted out of SMS/WhatsApp): nothing is sent.")
    if chosen == Channel.EMAIL and not customer.allow_marketing_email:
        raise IntegrationInputError("This customer unsubscribed from email: nothing is sent.")
    if (
        chosen == Channel.WHATSAPP
        and template is None
        and not whatsapp_window_open(workspace=workspace, customer=customer, now=timezone.now())
    ):
        raise IntegrationInputError(
            "Outside WhatsApp's 24-hour window (the person has not written in 24 hours): "
            "send an approved template (its Content SID), or use SMS or email."
        )
    if chosen == Channel.EMAIL:
        if not body:
            raise IntegrationInputError("The message is empty.")
        message = email_send(
            workspace=workspace,
            customer_id=customer.pk,
            subject=subject or f"A message from {workspace.name}",
            html_body="<p>" + html.escape(body).replace("\n", "<br>") + "</p>",
            marketing=True,
            scheduled_at=scheduled_at,
            actor=actor,
        )
    else:
        message = sms_send(
            workspace=workspace,
            customer_id=customer.pk,
            body=body,
            channel=chosen,
            marketing=True,
            scheduled_at=scheduled_at,
            actor=actor,
            template=template,
        )
    if chosen in PHONE_CHANNELS and not message.template:
        message.body = text_links_rewrite(message=message)
    if agent:
        message.agent = agent
    Message.objects.filter(pk=message.pk).update(agent=message.agent, body=message.body)
    if not agent:
        _needs_human_clear(workspace, customer)
    return message


def _needs_human_clear(workspace: Workspace, customer: Customer) -> None:
    """The team answered: the thread no longer needs human eyes."""
    Conversation.objects.filter(
        workspace=workspace,
        customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
        needs_human=True,
    ).update(needs_human=False)


def text_links_rewrite(*, message: Message) -> str:
    """Replace each http(s) link of an SMS/WhatsApp body with a tracked link of this message and
    person (`/l/<code>`: the click lands on their timeline). A link that cannot be tracked (a private
    or malformed address) is left as written."""

    def swap(match: re.Match[str]) -> str:
        try:
            link = link_create(
                workspace=message.workspace,
                target_url=match.group(0),
                channel=LinkChannel.WHATSAPP if message.channel == Channel.WHATSAPP else LinkChannel.SMS,
                customer_id=message.customer_id,
                message_id=message.pk,
            )
        except IntegrationInputError:
            return match.group(0)
        return settings.CLARM_PUBLIC_URL + reverse("integrations:link", kwargs={"code": link.code})

    return _TEXT_URL.sub(swap, message.body)


def agent_setting_save(
    *, workspace: Workspace, agent: str, enabled: bool, config: dict[str, Any] | None = None
) -> AgentSetting:
    spec = AGENTS.get(agent)
    if spec is None:
        raise AgentInputError(f"Unknown agent “{agent}”; built-in agents: {', '.join(AGENTS)}.")
    clean = agent_config(spec, config)
    for name, default in spec.defaults.items():
        value = clean[name]
        if isinstance(default, int) and not isinstance(value, int):
            raise AgentInputError(f"{name} must be a whole number.")
        if isinstance(default, str) and not isinstance(value, str):
            raise AgentInputError(f"{name} must be text.")
    if "hours_before" in clean and not 1 <= clean["hours_before"] <= 24 * 7:
        raise AgentInputError("hours_before must be from 1 to 168.")
    if "hours_after" in clean and not 0 <= clean["hours_after"] <= 24 * 7:
        raise AgentInputError("hours_after must be from 0 to 168.")
    if "send_hour" in clean and not 0 <= clean["send_hour"] <= 23:
        raise AgentInputError("send_hour must be from 0 to 23.")
    if "template" in clean and not clean["template"].strip():
        raise AgentInputError("The template is empty.")
    try:
        if "questions" in clean:
            questions_parse(clean["questions"])
        if "availability" in clean:
            availability_parse(clean["availability"])
    except ValueError as exc:
        raise AgentInputError(str(exc)) from None
    if "slot_minutes" in clean and not 10 <= clean["slot_minutes"] <= 8 * 60:
        raise AgentInputError("slot_minutes must be from 10 to 480.")
    if "lead_hours" in clean and not 0 <= clean["lead_hours"] <= 24 * 14:
        raise AgentInputError("lead_hours must be from 0 to 336.")
    event_type = clean.get("calendly_event_type_url", "")
    if event_type and not re.match(r"^https://\S+/event_types/[A-Za-z0-9-]+$", event_type.strip()):
        raise AgentInputError(
            "calendly_event_type_url must be an event type's URI, like https://api.calendly.com/event_types/ABC123."
        )
    overrides = {k: v for k, v in clean.items() if v != spec.defaults[k]}
    setting, _ = AgentSetting.objects.update_or_create(
        workspace=workspace,
        agent=agent,
        defaults={
            "enabled": enabled,
            "config": overrides,
            "updated_at": timezone.now(),
        },
    )
    return setting


MIN_SECRET_CHARS = 16


@transaction.atomic
def model_endpoint_save(
    *, workspace: Workspace, enabled: bool, url: str, secret: str = "", actor: User | None = None
) -> ModelEndpoint:
    """Set the workspace's model endpoint (owners and admins). The URL must be https:// (http:// only
    where `CLARM_ALLOW_PRIVATE_DESTINATIONS` is on: tests, a trusted single-tenant install) and pass
    the SSRF guard of destinations; the secret is the owner's own (at least 16 characters), stored
    encrypted; an empty secret keeps the one stored. Audited without the secret."""
    url, secret = (url or "").strip(), (secret or "").strip()
    endpoint = ModelEndpoint.objects.select_for_update().filter(workspace=workspace).first()
    if not url:
        raise AgentInputError("Endpoint URL: enter the address Clarm should POST to, starting with https://.")
    if len(url) > 500:
        raise AgentInputError("Endpoint URL: at most 500 characters.")
    if not url.lower().startswith("https://") and not settings.CLARM_ALLOW_PRIVATE_DESTINATIONS:
        raise AgentInputError("Endpoint URL: it must start with https://.")
    try:
        url_check(url)
    except DestinationUrlRefused as exc:
        raise AgentInputError(f"Endpoint URL: {exc}") from None
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise AgentInputError(f"Secret: at least {MIN_SECRET_CHARS} characters.")
    if len(secret) > 200:
        raise AgentInputError("Secret: at most 200 characters.")
    if not secret and (endpoint is None or not endpoint.secret_encrypted):
        raise AgentInputError("Secret: enter the secret your endpoint checks the signature with.")
    created = endpoint is None
    if endpoint is None:
        endpoint = ModelEndpoint(workspace=workspace)
    endpoint.enabled, endpoint.url, endpoint.updated_at = enabled, url, timezone.now()
    if secret:
        endpoint.set_secret(secret)
    endpoint.save()
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="agents.model_endpoint_set" if created else "agents.model_endpoint_updated",
        target="model_endpoint",
        details={"enabled": enabled, "host": urlsplit(url).hostname or "", "secret_changed": bool(secret)},
    )
    return endpoint
