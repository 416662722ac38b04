"""Reads of conversations: one thread per person across channels, the Inbox, and what an agent needs.

The workspace is always a required argument; another workspace's conversation is "not there".
A person's thread also holds the messages of the customers merged into them (merges move events,
not messages, so the thread follows `merged_into`)."""

import datetime
import hashlib
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from agents.models import (
    AgentDialog,
    AgentSetting,
    Channel,
    ChatWidget,
    Conversation,
    Direction,
    Message,
    ModelEndpoint,
    ScheduledAction,
    WidgetSession,
)
from agents.registry import AGENTS, AgentSpec, agent_config, field_label
from identity.models import Customer, CustomerStatus
from identity.selectors import customer_survivor
from tracking.models import Event, Source
from workspaces.models import Workspace

INBOX_LIMIT = 200
# A thread whose last message is ours and older than this, from a person who has not converted, is a drop-off.
SILENCE = datetime.timedelta(hours=48)
CONVERTED_RUNG = 4  # booked or paid (the account rung)
WHATSAPP_WINDOW = datetime.timedelta(hours=24)
REPLY_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEB)


def thread_customer_ids(*, workspace: Workspace, customer: Customer) -> list[int]:
    """The customer and every customer merged into them (directly or through a chain)."""
    ids = [customer.pk]
    frontier = [customer.pk]
    while frontier:
        frontier = list(
            Customer.objects.filter(workspace=workspace, merged_into_id__in=frontier).values_list("pk", flat=True)
        )
        ids.extend(frontier)
    return ids


def conversation_get(*, workspace: Workspace, pk: int) -> Conversation | None:
    return Conversation.objects.filter(workspace=workspace, pk=pk).select_related("customer").first()


def conversations_of(*, workspace: Workspace, customer: Customer) -> QuerySet[Conversation]:
    """The person's conversations (one per channel), most recent first, with the last direction."""
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        Conversation.objects.filter(
            workspace=workspace, customer_id__in=thread_customer_ids(workspace=workspace, customer=customer)
        )
        .annotate(last_direction=Subquery(last.values("direction")[:1]))
        .order_by("-last_message_at", "-pk")
    )


def thread_messages(*, workspace: Workspace, customer: Customer) -> list[Message]:
    """Every message in and out with the person, in the order they happened."""
    return list(
        Message.objects.filter(
            workspace=workspace, customer_id__in=thread_customer_ids(workspace=workspace, customer=customer)
        )
        .annotate(at=Coalesce("sent_at", "created_at"))
        .order_by("at", "pk")
    )


def last_reply_channel(*, workspace: Workspace, customer: Customer) -> str | None:
    """The channel of the person's last message we can answer on (voice → SMS when there is a phone)."""
    ids = thread_customer_ids(workspace=workspace, customer=customer)
    last = (
        Message.objects.filter(workspace=workspace, customer_id__in=ids)
        .annotate(at=Coalesce("sent_at", "created_at"))
        .order_by("-at", "-pk")
        .values_list("channel", flat=True)
        .first()
    )
    if last in REPLY_CHANNELS:
        return last
    if customer.phone:
        return Channel.SMS
    if customer.email:
        return Channel.EMAIL
    return None


def whatsapp_window_open(*, workspace: Workspace, customer: Customer, now: datetime.datetime) -> bool:
    """WhatsApp allows free-form messages only within 24 hours of the person's last message."""
    return Message.objects.filter(
        workspace=workspace,
        customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
        channel=Channel.WHATSAPP,
        direction=Direction.IN,
        created_at__gte=now - WHATSAPP_WINDOW,
    ).exists()


@dataclass
class InboxThread:
    customer: Customer
    channel: str
    last_message_at: datetime.datetime
    last_body: str
    waiting: bool  # the last message came from the person
    needs_human: bool


def inbox_threads(*, workspace: Workspace, limit: int = INBOX_LIMIT) -> list[InboxThread]:
    """One row per person (their `limit` most recent conversations), "needs human eyes" first, then
    threads waiting for a reply, then the rest; newest first within each group."""
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    conversations = (
        Conversation.objects.filter(workspace=workspace, customer__status=CustomerStatus.LIVE)
        .annotate(last_direction=Subquery(last.values("direction")[:1]), last_body=Subquery(last.values("body")[:1]))
        .select_related("customer")
        .order_by("-last_message_at", "-pk")[:limit]
    )
    threads: dict[int, InboxThread] = {}
    for conversation in conversations:
        thread = threads.get(conversation.customer_id)
        if thread is None:
            threads[conversation.customer_id] = InboxThread(
                customer=conversation.customer,
                channel=conversation.channel,
                last_message_at=conversation.last_message_at,
                last_body=conversation.last_body or "",
                waiting=conversation.last_direction == Direction.IN,
                needs_human=conversation.needs_human,
            )
        else:
            thread.needs_human = thread.needs_human or conversation.needs_human
    return sorted(threads.values(), key=lambda t: (not t.needs_human, not t.waiting, -t.last_message_at.timestamp()))


@dataclass
class AgentRow:
    spec: AgentSpec
    enabled: bool
    config: dict

    @property
    def fields(self) -> list[tuple[str, object, str, str]]:
        """(name, value, input kind, label) of each setting: number, url or template."""
        kinds = {int: "number"}
        return [
            (
                name,
                value,
                kinds.get(type(self.spec.defaults[name]), "url" if name.endswith("_url") else "template"),
                field_label(name),
            )
            for name, value in self.config.items()
        ]


def agents_of(*, workspace: Workspace) -> list[AgentRow]:
    """Every built-in agent with the workspace's switch and settings (defaults where unset)."""
    settings = {row.agent: row for row in AgentSetting.objects.filter(workspace=workspace)}
    rows = []
    for name, spec in AGENTS.items():
        row = settings.get(name)
        rows.append(
            AgentRow(
                spec=spec, enabled=bool(row and row.enabled), config=agent_config(spec, row.config if row else None)
            )
        )
    return rows


def model_endpoint_of(*, workspace: Workspace) -> ModelEndpoint | None:
    return ModelEndpoint.objects.filter(workspace=workspace).first()


def actions_recent(*, workspace: Workspace, limit: int = 50) -> QuerySet[ScheduledAction]:
    return (
        ScheduledAction.objects.filter(workspace=workspace)
        .select_related("customer")
        .order_by("-due_at", "-pk")[:limit]
    )


@dataclass
class DropOff:
    step: str  # the last agent action before the silence, or "team_reply"
    people: int


def drop_offs(*, workspace: Workspace, now: datetime.datetime, limit: int = INBOX_LIMIT) -> list[DropOff]:
    """Where people who did not convert went silent: for each thread whose last message is ours and
    older than SILENCE (the person never answered), the step is the last agent action logged on the
    person before that message (e.g. `booking_offered`: "offered slots, no reply"), else `team_reply`.
    Counted per step, most first. Bound: the `limit` most recent conversations are read."""
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-pk")
    conversations = (
        Conversation.objects.filter(
            workspace=workspace, customer__status=CustomerStatus.LIVE, customer__rung__lt=CONVERTED_RUNG
        )
        .annotate(last_direction=Subquery(last.values("direction")[:1]))
        .order_by("-last_message_at", "-pk")[:limit]
    )
    latest: dict[int, tuple[datetime.datetime, str | None]] = {}
    for conversation in conversations:
        if conversation.customer_id not in latest:
            latest[conversation.customer_id] = (conversation.last_message_at, conversation.last_direction)
    counts: dict[str, int] = {}
    for customer_id, (at, direction) in latest.items():
        if direction != Direction.OUT or at > now - SILENCE:
            continue
        step = (
            Event.objects.filter(workspace=workspace, customer_id=customer_id, source=Source.AGENT, occurred_at__lte=at)
            .order_by("-occurred_at", "-pk")
            .values_list("event", flat=True)
            .first()
        ) or "team_reply"
        counts[step] = counts.get(step, 0) + 1
    return [DropOff(step, people) for step, people in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass
class TopicCount:
    topic: str
    this_week: int
    last_week: int

    @property
    def change(self) -> int:
        return self.this_week - self.last_week


def topic_counts(*, workspace: Workspace, now: datetime.datetime) -> list[TopicCount]:
    """Inbound messages per FAQ topic in the last 7 days and the 7 before, most this week first."""
    week = datetime.timedelta(days=7)
    rows = (
        Message.objects.filter(workspace=workspace, direction=Direction.IN, created_at__gt=now - 2 * week)
        .exclude(topics=[])
        .values_list("topics", "created_at")
    )
    counts: dict[str, TopicCount] = {}
    for topics, created_at in rows.iterator():
        for topic in topics:
            count = counts.setdefault(topic, TopicCount(topic, 0, 0))
            if created_at > now - week:
                count.this_week += 1
            else:
                count.last_week += 1
    return sorted(counts.values(), key=lambda c: (-c.this_week, -c.last_week, c.topic))


@dataclass
class QualifySummary:
    status: str
    detail: str
    ready: bool  # the person's `ready_to_book` trait
    answers: list[tuple[str, str]]  # (question, answer so far)


def qualify_summary(*, workspace: Workspace, customer: Customer) -> QualifySummary | None:
    """The Qualify agent's questions to the person and their answers (the latest dialog of the thread)."""
    dialog = (
        AgentDialog.objects.filter(
            workspace=workspace,
            agent="qualify",
            customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if dialog is None:
        return None
    answers = dialog.state.get("answers") or {}
    return QualifySummary(
        status=dialog.status,
        detail=dialog.detail,
        ready=bool((customer.traits or {}).get("ready_to_book")),
        answers=[(question, str(answers.get(key, ""))) for key, question in dialog.state.get("questions") or []],
    )


# --- the chat widget ----------------------------------------------------------------------------

WIDGET_POLL_LIMIT = 50


def widget_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def widget_of(*, workspace: Workspace) -> ChatWidget:
    """The workspace's chat widget settings (off, with the defaults, when never saved)."""
    return ChatWidget.objects.filter(workspace=workspace).first() or ChatWidget(workspace=workspace)


def widget_session_get(*, workspace: Workspace, token: object) -> WidgetSession | None:
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        return None
    return (
        WidgetSession.objects.filter(workspace=workspace, token_hash=widget_token_hash(token))
        .select_related("customer", "workspace")
        .first()
    )


@dataclass
class WidgetPoll:
    messages: list[Message]
    ask: str | None  # "email" when the widget should ask for one


def widget_poll(*, session: WidgetSession, after: int) -> WidgetPoll:
    """The web chat messages of the session's person since it started, after message id `after`, and
    whether to ask for an email: when an agent handed the chat to a person (“needs human eyes”) who
    has no email or phone to be answered on later."""
    customer = customer_survivor(workspace=session.workspace, customer=session.customer) or session.customer
    ids = thread_customer_ids(workspace=session.workspace, customer=customer)
    messages = list(
        Message.objects.filter(
            workspace_id=session.workspace_id,
            channel=Channel.WEB,
            customer_id__in=ids,
            created_at__gte=session.created_at,
            pk__gt=after,
        ).order_by("pk")[:WIDGET_POLL_LIMIT]
    )
    handed_off = not (customer.email or customer.phone) and (
        Conversation.objects.filter(workspace_id=session.workspace_id, customer_id__in=ids, needs_human=True).exists()
    )
    return WidgetPoll(messages=messages, ask="email" if handed_off else None)


def widget_visitor_id(*, workspace: Workspace, customer: Customer) -> str | None:
    """The device id of the person's latest web chat (how an event is logged on someone known only
    from the widget)."""
    return (
        WidgetSession.objects.filter(
            workspace=workspace, customer_id__in=thread_customer_ids(workspace=workspace, customer=customer)
        )
        .order_by("-created_at")
        .values_list("visitor_id", flat=True)
        .first()
    )
