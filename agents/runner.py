"""Running the built-in agents: read what happened (bookings, cancellations, inbound messages), plan
each agent's action as one row per (agent, customer, trigger), and do the actions that are due.

Exactly once: the plan is a unique row (`scheduled_action_once`), so reading the same booking twice
plans nothing new; doing an action locks its row (`SELECT … FOR UPDATE SKIP LOCKED`) and marks it
done in the same transaction that queues the message, so two workers or a retry never send twice.
Timing follows the workspace's zone in wall-clock time ("24 h before 09:00" is 09:00 the day before,
also across a DST change). Cancelled when the booking is cancelled or the person opted out.
"""

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from agents.dialogs import DIALOG_CHANNELS, booking_offer_plan, dialog_step, dialogs_end
from agents.messagedelivery import PHONE_CHANNELS
from agents.model_agent import model_answer
from agents.models import (
    ActionStatus,
    AgentDialog,
    AgentScan,
    AgentSetting,
    Booking,
    BookingStatus,
    Channel,
    DialogStatus,
    Direction,
    Message,
    ModelEndpoint,
    ScheduledAction,
)
from agents.notify import handoff_take, needs_human_mark
from agents.registry import (
    AGENTS,
    BOOKING_ASSISTANT,
    FAQ_TOPICS,
    FOLLOW_UP,
    HANDOFF,
    HANDOFF_PATTERN,
    MODEL_ENDPOINT,
    ONBOARDING,
    QUALIFY,
    REFUND_HANDLER,
    REFUND_PATTERN,
    REVIEW_ASK,
    AgentSpec,
    agent_config,
    template_render,
)
from agents.selectors import CONVERTED_RUNG, thread_customer_ids
from agents.services import AgentInputError, agent_action_log, conversation_reply
from agents.summary.periods import workspace_zone
from agents.topics import faq_topics, topics_match
from identity.models import Customer, CustomerStatus
from identity.timeline import BOOKING_MOVED, OWN_BOOKING_PREFIX, PAYMENT_EVENTS, own_booking_pk
from integrations.events import event_customer
from integrations.optout import sms_intent
from integrations.services import IntegrationInputError
from tracking.dedupe import SERVER_KEY_PREFIX
from tracking.models import Event
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

# Re-read this much before the last scan: an event committed late (a long ingest transaction) is
# still seen. The first scan of a workspace reads this far back.
SCAN_OVERLAP = datetime.timedelta(minutes=5)
FIRST_SCAN = datetime.timedelta(hours=1)
DUE_BATCH = 500


def wall_clock_shift(moment: datetime.datetime, zone: Any, *, hours: int = 0, days: int = 0) -> datetime.datetime:
    """`moment` moved by hours/days of the workspace's wall clock (09:00 minus 24 h is 09:00 the day
    before, even when that day was 23 or 25 hours long)."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    shifted = local + datetime.timedelta(hours=hours, days=days)
    return shifted.replace(tzinfo=zone).astimezone(datetime.UTC)


def follow_up_due(start: datetime.datetime, zone: Any, config: dict[str, Any]) -> datetime.datetime:
    return wall_clock_shift(start, zone, hours=-int(config["hours_before"]))


def review_ask_due(start: datetime.datetime, zone: Any, config: dict[str, Any]) -> datetime.datetime:
    local = start.astimezone(zone)
    day_after = (local + datetime.timedelta(days=1)).date()
    return datetime.datetime.combine(day_after, datetime.time(int(config["send_hour"])), tzinfo=zone).astimezone(
        datetime.UTC
    )


BOOKING_DUE = {FOLLOW_UP.name: follow_up_due, REVIEW_ASK.name: review_ask_due}
# Agents started by an inbound message whose text matches (the refund handler answers first).
MESSAGE_AGENTS = ((REFUND_HANDLER, REFUND_PATTERN), (HANDOFF, HANDOFF_PATTERN))
# Agents that talk with the person one question at a time (agents.dialogs).
DIALOG_AGENTS = (QUALIFY, BOOKING_ASSISTANT)
# Timeline events that start a booking's Follow-up and Review ask: a booking from Calendly (or any
# source) and one the Booking assistant took.
BOOKING_EVENTS = ("booking_created", "booking_taken")
FORM_EVENTS = ("form_submit", "form_submitted")
ASSISTANT_BOOKING_KEY = f"booking:{OWN_BOOKING_PREFIX}"


def _booking_key(properties: dict[str, Any]) -> str:
    ref = properties.get("invitee_uri") or properties.get("event_uri") or properties.get("booking_id") or ""
    return f"booking:{ref}"[:200] if ref else ""


def _enabled(workspace: Workspace) -> dict[str, dict[str, Any]]:
    """The workspace's switched-on agents with their configuration."""
    rows = AgentSetting.objects.filter(workspace=workspace, enabled=True, agent__in=list(AGENTS))
    return {row.agent: agent_config(AGENTS[row.agent], row.config) for row in rows}


def _plan(
    workspace: Workspace, spec: AgentSpec, customer: Customer, trigger: str, due: datetime.datetime, payload: dict
) -> bool:
    """One row per (agent, customer, trigger); False when it was planned before."""
    try:
        with transaction.atomic():
            ScheduledAction.objects.create(
                workspace=workspace, agent=spec.name, customer=customer, trigger=trigger, due_at=due, payload=payload
            )
    except IntegrityError:
        return False
    return True


@dataclass
class ScanResult:
    planned: int = 0
    cancelled: int = 0


def workspace_scan(*, workspace: Workspace, now: datetime.datetime) -> ScanResult:
    """Plan and cancel the actions of the workspace's switched-on agents from what arrived since the
    last scan (minus the overlap)."""
    result = ScanResult()
    agents = _enabled(workspace)
    model_on = ModelEndpoint.objects.filter(workspace=workspace, enabled=True).exists()
    scan = AgentScan.objects.filter(workspace=workspace).first()
    # A watermark ahead of `now` (the clock was set back, or a run with a given time) is not trusted.
    since = (scan.scanned_until - SCAN_OVERLAP) if scan and scan.scanned_until <= now else now - FIRST_SCAN
    if not agents and not model_on:
        AgentScan.objects.update_or_create(workspace=workspace, defaults={"scanned_until": now})
        return result
    zone = workspace_zone(workspace.timezone)
    booking_agents = [AGENTS[name] for name in agents if name in BOOKING_DUE]
    if booking_agents:
        events = (
            Event.objects.filter(
                workspace=workspace,
                event__in=[*BOOKING_EVENTS, "booking_cancelled", BOOKING_MOVED],
                received_at__gte=since,
                received_at__lte=now,
            )
            .select_related("customer")
            .order_by("received_at", "pk")
        )
        for event in events:
            key = _booking_key(event.properties or {})
            customer = event_customer(event)
            if not key or customer is None:
                continue
            verified = (event.message_id or "").startswith(SERVER_KEY_PREFIX)
            if event.event == BOOKING_MOVED and not verified:
                continue  # only Clarm's own booking page moves a booking
            if event.event in ("booking_cancelled", BOOKING_MOVED):
                moved = event.event == BOOKING_MOVED
                gone = (
                    _booking_key({"booking_id": (event.properties or {}).get("previous_booking_id")}) if moved else key
                )
                if gone.startswith(ASSISTANT_BOOKING_KEY) and not verified:
                    continue  # the assistant's booking ids are guessable: only a verified source cancels
                result.cancelled += ScheduledAction.objects.filter(
                    workspace=workspace,
                    trigger=gone,
                    agent__in=[spec.name for spec in booking_agents],
                    status=ActionStatus.PENDING,
                ).update(
                    status=ActionStatus.CANCELLED, detail="Booking moved" if moved else "Booking cancelled", done_at=now
                )
                if not moved:
                    continue
            start = parse_datetime(str((event.properties or {}).get("start_time") or ""))
            if start is None or start.tzinfo is None:
                continue
            for spec in booking_agents:
                due = BOOKING_DUE[spec.name](start, zone, agents[spec.name])
                if due <= now - datetime.timedelta(hours=1) and spec is FOLLOW_UP:
                    continue  # booked less than the lead time ahead: a reminder now would be noise
                payload = {"start_time": start.isoformat(), "meeting": (event.properties or {}).get("meeting") or ""}
                result.planned += _plan(workspace, spec, customer, key, due, payload)
    if ONBOARDING.name in agents:
        result.planned += _onboarding_plan(workspace, agents[ONBOARDING.name], since=since, now=now)
    if FAQ_TOPICS.name in agents:
        topics = faq_topics(agents[FAQ_TOPICS.name])
        untagged = Message.objects.filter(
            workspace=workspace, direction=Direction.IN, created_at__gte=since, created_at__lte=now, topics=[]
        )
        for message in untagged:
            found = topics_match(message.body, topics)
            if found:
                Message.objects.filter(pk=message.pk).update(topics=found)
    if any(spec.name in agents for spec in DIALOG_AGENTS):
        result.planned += _dialogs_plan(workspace, agents, since=since, now=now)
    if BOOKING_ASSISTANT.name in agents:
        result.cancelled += _bookings_cancel(workspace, since=since, now=now)
    message_agents = [(spec, pattern) for spec, pattern in MESSAGE_AGENTS if spec.name in agents]
    if message_agents:
        messages = Message.objects.filter(
            workspace=workspace, direction=Direction.IN, created_at__gte=since, created_at__lte=now
        ).select_related("customer")
        for message in messages:
            for spec, pattern in message_agents:
                if pattern.search(message.body or ""):
                    payload = {"channel": message.channel}
                    result.planned += _plan(workspace, spec, message.customer, f"message:{message.pk}", now, payload)
    if model_on:
        result.planned += _model_plan(workspace, since=since, now=now)
    AgentScan.objects.update_or_create(workspace=workspace, defaults={"scanned_until": now})
    return result


def _model_plan(workspace: Workspace, *, since: datetime.datetime, now: datetime.datetime) -> int:
    """The workspace's model endpoint takes each inbound message of the window that no built-in agent
    took (after they planned theirs): no action of theirs for that message (`message:<id>`), not the
    message that started Qualify, not a STOP/START keyword (integrations.optout handles those)."""
    messages = [
        m
        for m in Message.objects.filter(
            workspace=workspace,
            direction=Direction.IN,
            channel__in=DIALOG_CHANNELS,
            created_at__gte=since,
            created_at__lte=now,
        )
        .select_related("customer")
        .order_by("created_at", "pk")
        if sms_intent(m.body) is None
    ]
    if not messages:
        return 0
    ids = [m.pk for m in messages]
    # Any agent's action for the message (the model's own too: a re-read of the overlap inserts nothing).
    taken = set(
        ScheduledAction.objects.filter(workspace=workspace, trigger__in=[f"message:{pk}" for pk in ids]).values_list(
            "trigger", flat=True
        )
    )
    started = set(
        ScheduledAction.objects.filter(
            workspace=workspace, agent=QUALIFY.name, trigger="qualify", payload__message__in=ids
        ).values_list("payload__message", flat=True)
    )
    planned = 0
    for message in messages:
        if f"message:{message.pk}" in taken or message.pk in started:
            continue
        payload = {"channel": message.channel, "message": message.pk}
        planned += _plan(workspace, MODEL_ENDPOINT, _live(message.customer), f"message:{message.pk}", now, payload)
    return planned


def _onboarding_plan(
    workspace: Workspace, config: dict[str, Any], *, since: datetime.datetime, now: datetime.datetime
) -> int:
    """One welcome per person, planned from their first payment (trigger `payment:first`, so a later
    payment, or the same one read twice, plans nothing)."""
    planned = 0
    payments = (
        Event.objects.filter(
            workspace=workspace, event__in=PAYMENT_EVENTS, received_at__gte=since, received_at__lte=now
        )
        .select_related("customer")
        .order_by("received_at", "pk")
    )
    for event in payments:
        customer = event_customer(event)
        if customer is None:
            continue
        earlier = Event.objects.filter(
            workspace=workspace,
            customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
            event__in=PAYMENT_EVENTS,
            occurred_at__lt=event.occurred_at,
        ).exists()
        if earlier:
            continue
        due = event.received_at + datetime.timedelta(hours=int(config["hours_after"]))
        planned += _plan(workspace, ONBOARDING, customer, "payment:first", due, {"event": event.pk})
    return planned


def _dialogs_plan(
    workspace: Workspace, agents: dict[str, dict[str, Any]], *, since: datetime.datetime, now: datetime.datetime
) -> int:
    """Qualify and the Booking assistant: each inbound message is an answer to the person's open
    dialog (one step per message), or starts Qualify for a new lead; an opt-out or a request for a
    person ends the dialog instead. A form with an email starts Qualify too (by email); a
    `lead_qualified` (Qualify's or an external agent's) starts the offer."""
    planned = 0
    names = [spec.name for spec in DIALOG_AGENTS if spec.name in agents]
    # The open dialogs by their person (as merged since), read once per scan.
    open_dialogs: dict[int, list[AgentDialog]] = {}
    for dialog in AgentDialog.objects.filter(
        workspace=workspace, status=DialogStatus.OPEN, agent__in=names
    ).select_related("customer"):
        open_dialogs.setdefault(_live(dialog.customer).pk, []).append(dialog)
    messages = list(
        Message.objects.filter(workspace=workspace, direction=Direction.IN, created_at__gte=since, created_at__lte=now)
        .select_related("customer")
        .order_by("created_at", "pk")
    )
    forms = (
        list(
            Event.objects.filter(
                workspace=workspace, event__in=FORM_EVENTS, received_at__gte=since, received_at__lte=now
            )
            .select_related("customer")
            .order_by("received_at", "pk")
        )
        if QUALIFY.name in agents
        else []
    )
    # People of this window Qualify has started for already (each re-read of the overlap is then one
    # set lookup; a merged profile is checked in _qualify_plan).
    asked = set(
        ScheduledAction.objects.filter(
            workspace=workspace,
            agent=QUALIFY.name,
            trigger="qualify",
            customer_id__in={m.customer_id for m in messages} | {e.customer_id for e in forms if e.customer_id},
        ).values_list("customer_id", flat=True)
    )
    for message in messages:
        customer = _live(message.customer)
        mine = [d for d in open_dialogs.get(customer.pk, []) if d.status == DialogStatus.OPEN]
        body = message.body or ""
        ending = (
            "The person opted out"
            if sms_intent(body) == "opt_out"
            else "The person asked for a person"
            if HANDOFF_PATTERN.search(body) or REFUND_PATTERN.search(body)
            else ""
        )
        if ending:
            if mine:
                dialogs_end(workspace=workspace, customer=customer, reason=ending)
                for dialog in mine:
                    dialog.status = DialogStatus.CANCELLED
            continue
        for dialog in mine:
            if message.pk > dialog.last_read_id:
                planned += _plan(
                    workspace, AGENTS[dialog.agent], customer, f"message:{message.pk}", now, {"dialog": dialog.pk}
                )
        if not mine and QUALIFY.name in agents and message.channel in DIALOG_CHANNELS and customer.pk not in asked:
            earlier = Message.objects.filter(
                workspace=workspace,
                customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
                direction=Direction.IN,
                pk__lt=message.pk,
            ).exists()
            if earlier:  # not a new lead: someone who wrote before (before Qualify was on, or about a job)
                asked.add(customer.pk)
            else:
                planned += _qualify_plan(
                    workspace, customer, channel=message.channel, now=now, asked=asked, message_id=message.pk
                )
    # A form is asked back by email only: anyone with the public write key can send a form with any
    # phone, and an SMS to a number that never wrote to the business is spam (and costs money). By
    # SMS/WhatsApp only someone who texted first is asked.
    for event in forms:
        lead = event_customer(event)
        if lead is not None and lead.email:
            planned += _qualify_plan(workspace, lead, channel=Channel.EMAIL, now=now, asked=asked)
    if BOOKING_ASSISTANT.name in agents:
        leads = Event.objects.filter(
            workspace=workspace, event=QUALIFY.action, received_at__gte=since, received_at__lte=now
        ).select_related("customer")
        for event in leads:
            qualified = event_customer(event)
            if qualified is not None:
                planned += booking_offer_plan(
                    workspace=workspace,
                    customer=qualified,
                    trigger=f"lead:{event.pk}",
                    channel=str((event.properties or {}).get("channel") or ""),
                    due=now,
                )
    return planned


def _bookings_cancel(workspace: Workspace, *, since: datetime.datetime, now: datetime.datetime) -> int:
    """A `booking_cancelled` naming a booking the assistant made (`booking_id: clarm-booking:<id>`, or
    Calendly's invitee URI) frees its time. Only from Clarm's own verified sources (a signed webhook,
    the Agent API: their keys start with `clarm:`): the public write key cannot cancel a booking by
    guessing its id."""
    cancelled = 0
    events = Event.objects.filter(
        workspace=workspace,
        event="booking_cancelled",
        received_at__gte=since,
        received_at__lte=now,
        message_id__startswith=SERVER_KEY_PREFIX,
    ).values_list("properties", flat=True)
    for properties in events:
        properties = properties or {}
        invitee = str(properties.get("invitee_uri") or "")
        rows = Booking.objects.filter(workspace=workspace, status=BookingStatus.BOOKED)
        own = own_booking_pk(properties.get("booking_id"))
        if own is not None:
            rows = rows.filter(pk=own)
        elif invitee:
            rows = rows.filter(source="calendly", external_uri=invitee)
        else:
            continue
        cancelled += rows.update(status=BookingStatus.CANCELLED)
    return cancelled


def _qualify_plan(
    workspace: Workspace,
    customer: Customer,
    *,
    channel: str,
    now: datetime.datetime,
    asked: set[int],
    message_id: int | None = None,
) -> bool:
    """Qualify starts once per person (trigger "qualify"), for a lead not yet booked or qualified;
    the payload names the message that started it (so the model endpoint leaves that one alone)."""
    if customer.pk in asked or customer.rung >= CONVERTED_RUNG or customer.traits.get("ready_to_book"):
        return False
    asked.add(customer.pk)
    ids = thread_customer_ids(workspace=workspace, customer=customer)
    if ScheduledAction.objects.filter(
        workspace=workspace, agent=QUALIFY.name, customer_id__in=ids, trigger="qualify"
    ).exists():
        return False
    payload: dict[str, Any] = {"channel": channel}
    if message_id is not None:
        payload["message"] = message_id
    return _plan(workspace, QUALIFY, customer, "qualify", now, payload)


def scan_all(*, now: datetime.datetime) -> ScanResult:
    total = ScanResult()
    workspace_ids = set(AgentSetting.objects.filter(enabled=True).values_list("workspace_id", flat=True).distinct())
    workspace_ids |= set(ModelEndpoint.objects.filter(enabled=True).values_list("workspace_id", flat=True))
    for workspace in Workspace.objects.filter(pk__in=workspace_ids).order_by("pk"):
        result = workspace_scan(workspace=workspace, now=now)
        total.planned += result.planned
        total.cancelled += result.cancelled
    return total


# --- doing the actions --------------------------------------------------------------------------


def _first_name(customer: Customer) -> str:
    return (customer.name or "").split(" ")[0] or "there"


def _live(customer: Customer) -> Customer:
    seen = 0
    while customer.status != CustomerStatus.LIVE and customer.merged_into_id and seen < 10:
        customer = Customer.objects.get(pk=customer.merged_into_id)
        seen += 1
    return customer


def _template_send(row: ScheduledAction, spec: AgentSpec, config: dict[str, Any], channel: str) -> Message:
    customer = row.customer
    zone = workspace_zone(row.workspace.timezone)
    start = parse_datetime(row.payload.get("start_time", "")) or row.due_at
    when = start.astimezone(zone).strftime("%a %d %b at %H:%M").replace(" 0", " ")
    body = template_render(
        config["template"],
        {
            "first_name": _first_name(customer),
            "workspace": row.workspace.name,
            "when": when,
            "meeting": row.payload.get("meeting", ""),
            "review_url": config.get("review_url", ""),
        },
    )
    return conversation_reply(workspace=row.workspace, customer=customer, body=body, channel=channel, agent=spec.name)


def _do(row: ScheduledAction, config: dict[str, Any], now: datetime.datetime) -> tuple[str, str]:
    """Do one action (inside the row's transaction). Returns (status, detail)."""
    customer = row.customer = _live(row.customer)
    if row.agent == MODEL_ENDPOINT.name:
        return model_answer(row)
    spec = AGENTS[row.agent]
    if spec in DIALOG_AGENTS:
        return dialog_step(row, config, now=now)
    if spec is HANDOFF:
        handoff_take(
            workspace=row.workspace,
            customer=customer,
            reason="asked for a person",
            title="Asked for a person",
            channel=row.payload.get("channel", ""),
            key=f"action-{row.pk}",
        )
        return ActionStatus.DONE, "In the Inbox, marked “needs human eyes”"
    if spec is REFUND_HANDLER:
        needs_human_mark(row.workspace, customer, reason="asked for a refund")
        channel = row.payload.get("channel", "")
        if channel not in (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEB):
            channel = Channel.SMS if customer.phone else Channel.EMAIL
    elif spec is REVIEW_ASK:
        if not customer.phone:
            return ActionStatus.CANCELLED, "No phone number for the review SMS"
        if not config.get("review_url"):
            return ActionStatus.FAILED, "Set the review link in the agent's settings"
        channel = Channel.SMS
    elif spec is ONBOARDING:
        channel = Channel.EMAIL if customer.email else Channel.SMS
    else:
        # Someone known only from the chat widget (e.g. booked there by the Booking assistant) is
        # reminded in the chat.
        channel = Channel.SMS if customer.phone else Channel.EMAIL if customer.email else Channel.WEB
    # A web chat is one the person started on the site: no marketing preference applies.
    opted_out = channel != Channel.WEB and not (
        customer.allow_marketing_sms if channel in PHONE_CHANNELS else customer.allow_marketing_email
    )
    if opted_out:
        return ActionStatus.CANCELLED, "The person opted out"
    message = _template_send(row, spec, config, channel)
    row.message = message
    agent_action_log(
        workspace=row.workspace,
        agent=spec.name,
        action=spec.action,
        customer=customer,
        properties={
            "channel": channel,
            "message": message.pk,
            **{k: v for k, v in row.payload.items() if k == "start_time"},
        },
        key=f"action-{row.pk}",
    )
    return ActionStatus.DONE, f"Sent by {channel}"


def action_run(*, action_id: int, now: datetime.datetime) -> str:
    """Do one due action once; another worker holding it, or it being done already, is a no-op."""
    with transaction.atomic():
        row = (
            ScheduledAction.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("workspace", "customer")
            .filter(pk=action_id, status=ActionStatus.PENDING, due_at__lte=now)
            .first()
        )
        if row is None:
            return "skipped"
        setting = AgentSetting.objects.filter(workspace=row.workspace, agent=row.agent).first()
        # The model endpoint has its own switch (ModelEndpoint.enabled, read by model_answer).
        is_model = row.agent == MODEL_ENDPOINT.name
        status: str
        if not is_model and (setting is None or not setting.enabled):
            status, detail = ActionStatus.CANCELLED, "The agent was switched off"
        else:
            config = {} if is_model or setting is None else agent_config(AGENTS[row.agent], setting.config)
            try:
                with transaction.atomic():
                    status, detail = _do(row, config, now)
            except (IntegrationInputError, AgentInputError) as exc:
                status, detail = ActionStatus.FAILED, str(exc)[:300]
        if status == ActionStatus.FAILED:
            logger.warning("Agent action %s (%s) failed: %s", row.pk, row.agent, detail)
        row.status, row.detail, row.done_at = status, detail, now
        row.save(update_fields=["status", "detail", "done_at", "message"])
        return str(status)


def actions_due_ids(*, now: datetime.datetime, after: int = 0, limit: int = DUE_BATCH) -> list[int]:
    """Pending actions due by `now`, by id after `after` (a cursor, so a tick that hands them to workers
    reads each once)."""
    return list(
        ScheduledAction.objects.filter(status=ActionStatus.PENDING, due_at__lte=now, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
