"""The workspace's own model endpoint as an agent (agent name "model", docs/agents.md): one
`ScheduledAction` per inbound message no built-in agent answers (planned by agents.runner, trigger
`message:<id>`), done once under that row's lock like every agent action: call the endpoint, then
send its reply over the person's channel (the same send as every agent message: STOP, unsubscribes
and WhatsApp's window apply), log its action, or hand the thread to a person. Whatever goes wrong
with the endpoint hands the thread to a person instead (the Handoff agent's hand-off): a message is
never left unanswered and unflagged, and the owner sees the error in Settings → Agents.

The call is made before the action writes anything, so on SQLite the database is not locked while
the endpoint thinks; the reply is queued and the row marked done in one transaction, so a retried
task never sends two replies."""

import time
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from agents.dialogs import opted_out
from agents.endpoint import (
    MAX_MESSAGE_CHARS,
    PROTOCOL_VERSION,
    THREAD_MESSAGES,
    EndpointAnswer,
    EndpointFailed,
    endpoint_call,
)
from agents.models import ActionStatus, AgentSetting, Direction, Message, ModelEndpoint, ScheduledAction
from agents.notify import handoff_take
from agents.registry import FAQ_TOPICS, MODEL_ENDPOINT, agent_config
from agents.selectors import thread_customer_ids
from agents.services import agent_action_log_quiet, conversation_reply
from identity.models import Customer
from integrations.crypto import CredentialsUnreadable
from integrations.services import IntegrationInputError
from workspaces.models import Workspace

Result = tuple[str, str]


def _at(message: Message) -> str:
    return (message.sent_at or message.created_at).isoformat()


def model_request(*, workspace: Workspace, customer: Customer, message: Message, channel: str) -> dict[str, Any]:
    """The JSON body sent to the endpoint for one inbound message (documented in docs/agents.md).
    Personal data: the person's Clarm id and rung and the texts of the thread, nothing else."""
    ids = thread_customer_ids(workspace=workspace, customer=customer)
    earlier = list(
        Message.objects.filter(workspace=workspace, customer_id__in=ids)
        .filter(Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, pk__lt=message.pk))
        .order_by("-created_at", "-pk")[:THREAD_MESSAGES]
    )
    faq = AgentSetting.objects.filter(workspace=workspace, agent=FAQ_TOPICS.name).first()
    faq_config = agent_config(FAQ_TOPICS, faq.config if faq else None)
    return {
        "version": PROTOCOL_VERSION,
        "id": f"clarm-message-{message.pk}",
        "workspace": {"slug": workspace.slug, "name": workspace.name, "timezone": workspace.timezone},
        "person": {"id": customer.pk, "rung": customer.rung},
        "channel": channel,
        "message": {"id": message.pk, "at": _at(message), "text": message.body[:MAX_MESSAGE_CHARS]},
        "thread": [
            {
                "direction": m.direction,
                "channel": m.channel,
                "at": _at(m),
                "text": m.body[:MAX_MESSAGE_CHARS],
                "agent": m.agent,
            }
            for m in reversed(earlier)
        ],
        "faq_topics": {
            "enabled": bool(faq and faq.enabled),
            "topics": faq_config["topics"],
            "not_sold": faq_config["not_sold"],
            "matched": list(message.topics or []),
        },
    }


def _record(endpoint: ModelEndpoint, *, outcome: str, started: float, error: str = "") -> None:
    """The last call's outcome, for the owner (Settings → Agents)."""
    fields: dict[str, Any] = {
        "last_called_at": timezone.now(),
        "last_outcome": outcome,
        "last_duration_ms": int((time.monotonic() - started) * 1000),
    }
    if error:
        fields.update(last_error=error[:300], last_error_at=fields["last_called_at"])
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(**fields)


def _fallback(row: ScheduledAction, endpoint: ModelEndpoint, error: str, *, channel: str, started: float) -> Result:
    """The endpoint failed: the Handoff agent takes the message."""
    _record(endpoint, outcome="failed", started=started, error=error)
    handoff_take(
        workspace=row.workspace,
        customer=row.customer,
        reason=f"could not be answered by your model endpoint ({error.rstrip('.')})",
        title="Model endpoint failed: handed to a person",
        channel=channel,
        key=f"action-{row.pk}-handoff",
    )
    return ActionStatus.FAILED, f"{error} Handed to a person."[:300]


def _act(row: ScheduledAction, answer: EndpointAnswer, *, channel: str, message: Message) -> str:
    """Send the reply, log the action, hand off; returns what was done. Raises IntegrationInputError
    when the reply cannot be sent."""
    done = []
    if answer.reply:
        reply = conversation_reply(
            workspace=row.workspace,
            customer=row.customer,
            body=answer.reply,
            channel=channel,
            agent=MODEL_ENDPOINT.name,
        )
        row.message = reply
        agent_action_log_quiet(
            workspace=row.workspace,
            agent=MODEL_ENDPOINT.name,
            action=MODEL_ENDPOINT.action,
            customer=row.customer,
            properties={"channel": channel, "message": reply.pk, "in_reply_to": message.pk},
            key=f"action-{row.pk}",
        )
        done.append(f"Replied by {channel}")
    if answer.action:
        agent_action_log_quiet(
            workspace=row.workspace,
            agent=MODEL_ENDPOINT.name,
            action=answer.action,
            customer=row.customer,
            properties={**answer.properties, "channel": channel},
            key=f"action-{row.pk}-{answer.action}",
        )
        done.append(f"logged {answer.action}")
    if answer.handoff:
        reason = answer.reason or "asked for a person"
        handoff_take(
            workspace=row.workspace,
            customer=row.customer,
            reason=f"was handed over by your model endpoint: {reason}",
            title=f"Model endpoint handed over: {reason}",
            channel=channel,
            key=f"action-{row.pk}-handoff",
            agent=MODEL_ENDPOINT.name,
        )
        done.append("handed to a person")
    return "; ".join(done).capitalize()


def model_answer(row: ScheduledAction) -> Result:
    """Do one model action (inside the row's transaction; `row.customer` is the live person)."""
    workspace, customer = row.workspace, row.customer
    endpoint = ModelEndpoint.objects.filter(workspace=workspace, enabled=True).first()
    if endpoint is None:
        return ActionStatus.CANCELLED, "The model endpoint was switched off"
    message = Message.objects.filter(workspace=workspace, pk=row.payload.get("message") or 0).first()
    if message is None:
        return ActionStatus.CANCELLED, "The message is gone"
    channel = str(row.payload.get("channel") or message.channel)
    ids = thread_customer_ids(workspace=workspace, customer=customer)
    later = Message.objects.filter(workspace=workspace, customer_id__in=ids, pk__gt=message.pk)
    if later.filter(direction=Direction.OUT).exists():
        return ActionStatus.CANCELLED, "Answered already"
    if later.filter(direction=Direction.IN).exists():
        return ActionStatus.CANCELLED, "A later message of the person is answered instead"
    if opted_out(customer, channel):
        return ActionStatus.CANCELLED, f"The person opted out of {channel}: the endpoint was not called"
    started = time.monotonic()
    try:
        answer = endpoint_call(
            url=endpoint.url,
            secret=endpoint.secret,
            payload=model_request(workspace=workspace, customer=customer, message=message, channel=channel),
            timeout=float(settings.CLARM_AGENT_MODEL_TIMEOUT_SECONDS),
        )
    except CredentialsUnreadable:
        error = "The secret cannot be decrypted: set it again."
        return _fallback(row, endpoint, error, channel=channel, started=started)
    except EndpointFailed as exc:
        return _fallback(row, endpoint, str(exc), channel=channel, started=started)
    try:
        detail = _act(row, answer, channel=channel, message=message)
    except IntegrationInputError as exc:
        if opted_out(Customer.objects.get(pk=customer.pk), channel):
            _record(endpoint, outcome="reply", started=started)
            return ActionStatus.CANCELLED, "The person opted out meanwhile: the reply was not sent"
        return _fallback(row, endpoint, f"The reply could not be sent: {exc}", channel=channel, started=started)
    _record(endpoint, outcome="handoff" if answer.handoff else "reply", started=started)
    return ActionStatus.DONE, detail
