"""The agents that hold a conversation, one question at a time, in the person's own thread (web chat,
SMS, WhatsApp or email): Qualify (the workspace's questions → traits, `lead_qualified`, ready to
book) and the Booking assistant (3 open times → the person answers 1, 2 or 3 → booked,
`booking_offered` / `booking_taken`).

Each step is a ScheduledAction done by `agents.runner.action_run` (so exactly once, under its row
lock): the start (trigger "qualify" — once per person — or "lead:<event id>"), then one per inbound
message (trigger "message:<id>"). A step locks the person's open AgentDialog and reads every inbound
message after the dialog's `last_read_id`, so a message is read once, and two that arrive in the
same minute make one answer. An opt-out (STOP, unsubscribe) or a request for a
person ends the dialog (agents.runner plans no step for such a message and cancels the dialog);
the send itself re-checks the preference."""

import datetime
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from agents.availability import (
    Slot,
    availability_parse,
    slots_from_windows,
    slots_spread,
    taken_starts,
)
from agents.booking_links import booking_url
from agents.messagedelivery import PHONE_CHANNELS
from agents.models import (
    ActionStatus,
    AgentDialog,
    AgentSetting,
    Booking,
    BookingStatus,
    Channel,
    DialogStatus,
    Direction,
    Message,
    ScheduledAction,
)
from agents.notify import needs_human_mark
from agents.registry import BOOKING_ASSISTANT, QUALIFY, questions_parse, template_render
from agents.selectors import last_reply_channel, thread_customer_ids
from agents.services import AgentInputError, agent_action_log, agent_action_log_quiet, conversation_reply
from agents.summary.periods import workspace_zone
from identity.models import Customer
from identity.timeline import own_booking_id
from integrations.calendly.client import CalendlyError, available_times, invitee_create
from integrations.optout import sms_intent
from integrations.selectors import connection_get
from integrations.services import IntegrationInputError
from workspaces.models import Workspace

DIALOG_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEB)
MAX_ANSWER = 500
# Answers that are not 1, 2 or 3 get the choice again this many times, then the thread goes to a person.
BOOKING_RETRIES = 1
CALENDLY_RANGE = datetime.timedelta(days=7)
# Calendly's answers to POST /invitees that mean "this time is no longer open": offer new times.
TIME_GONE = (400, 409, 422)
# A question unanswered this long is closed: a message weeks later is not read as its answer.
DIALOG_EXPIRY = datetime.timedelta(days=7)
_CHOICE = re.compile(r"^\W*(?:option|number|no\.?|#)?\s*([1-3])\b", re.IGNORECASE)
# Where a reply email starts quoting the message it answers.
_QUOTE = re.compile(r"^(?:>|On .+ wrote:|-{2,}\s*Original Message)", re.IGNORECASE)

Result = tuple[str, str]
# Before the booking page's link in the confirmation of a booking from the availability.
MANAGE_LINE = "To move or cancel it: "


def first_name(customer: Customer) -> str:
    return (customer.name or "").split(" ")[0] or "there"


def when_label(moment: datetime.datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%a %d %b at %H:%M").replace(" 0", " ")


def opted_out(customer: Customer, channel: str) -> bool:
    """A web chat is one the person started on the site: no marketing preference applies."""
    if channel == Channel.WEB:
        return False
    return not (customer.allow_marketing_sms if channel in PHONE_CHANNELS else customer.allow_marketing_email)


def answer_text(body: str, channel: str) -> str:
    """The answer in a message: an email reply without the message it quotes."""
    lines = (body or "").splitlines()
    if channel == Channel.EMAIL:
        kept = []
        for line in lines:
            if _QUOTE.match(line.strip()):
                break
            kept.append(line)
        lines = kept
    return " ".join(line.strip() for line in lines if line.strip())[:MAX_ANSWER]


def _say(workspace: Workspace, customer: Customer, channel: str, body: str, agent: str) -> Message:
    return conversation_reply(workspace=workspace, customer=customer, body=body, channel=channel, agent=agent)


def _last_inbound_id(workspace: Workspace, ids: list[int]) -> int:
    return (
        Message.objects.filter(workspace=workspace, customer_id__in=ids, direction=Direction.IN).aggregate(
            last=Max("pk")
        )["last"]
        or 0
    )


def _channel(row: ScheduledAction, customer: Customer) -> str | None:
    channel = row.payload.get("channel") or ""
    if channel not in DIALOG_CHANNELS:
        channel = last_reply_channel(workspace=row.workspace, customer=customer) or ""
    return channel if channel in DIALOG_CHANNELS else None


def _reachable(row: ScheduledAction, customer: Customer, *, no_channel: str) -> tuple[str, Result | None]:
    """The channel a dialog starts on, or why it cannot start (no channel, or the person opted out)."""
    channel = _channel(row, customer)
    if channel is None:
        return "", (ActionStatus.CANCELLED, no_channel)
    if opted_out(customer, channel):
        return channel, (ActionStatus.CANCELLED, "The person opted out")
    return channel, None


def dialog_step(row: ScheduledAction, config: dict[str, Any], *, now: datetime.datetime) -> Result:
    """Do one step of Qualify or the Booking assistant (inside the action's transaction)."""
    if row.trigger.startswith("message:"):
        return _answer(row, config, now=now)
    if row.agent == QUALIFY.name:
        return _qualify_start(row, config, now=now)
    return _offer_start(row, config, now=now)


# --- Qualify --------------------------------------------------------------------------------------


def _qualify_start(row: ScheduledAction, config: dict[str, Any], *, now: datetime.datetime) -> Result:
    customer = row.customer
    channel, refused = _reachable(row, customer, no_channel="No channel to ask on")
    if refused:
        return refused
    try:
        questions = questions_parse(config["questions"])
    except ValueError as exc:
        return ActionStatus.FAILED, str(exc)[:300]
    ids = thread_customer_ids(workspace=row.workspace, customer=customer)
    if AgentDialog.objects.filter(workspace=row.workspace, agent=QUALIFY.name, customer_id__in=ids).exists():
        return ActionStatus.CANCELLED, "Asked before (a merged profile)"
    dialog = AgentDialog.objects.create(
        workspace=row.workspace,
        agent=QUALIFY.name,
        customer=customer,
        trigger=row.trigger,
        channel=channel,
        state={"questions": [list(q) for q in questions], "answers": {}},
        last_read_id=_last_inbound_id(row.workspace, ids),
        updated_at=now,
    )
    intro = template_render(config["template"], {"first_name": first_name(customer), "workspace": row.workspace.name})
    row.message = _say(row.workspace, customer, channel, f"{intro}\n{questions[0][1]}".strip(), QUALIFY.name)
    dialog.detail = f"Asked question 1 of {len(questions)}"
    dialog.save(update_fields=["detail"])
    return ActionStatus.DONE, f"Asked question 1 of {len(questions)} by {channel}"


def _qualify_answer(row: ScheduledAction, dialog: AgentDialog, answer: str, config: dict[str, Any]) -> Result:
    customer = row.customer
    questions = dialog.state.get("questions") or []
    answers = dict(dialog.state.get("answers") or {})
    key, _ = questions[dialog.step]
    answers[key] = answer
    dialog.step += 1
    dialog.state = {**dialog.state, "answers": answers}
    if dialog.step < len(questions):
        row.message = _say(row.workspace, customer, dialog.channel, questions[dialog.step][1], QUALIFY.name)
        dialog.detail = f"Asked question {dialog.step + 1} of {len(questions)}"
        return ActionStatus.DONE, f"Answer {dialog.step} read; asked question {dialog.step + 1} by {dialog.channel}"
    event = agent_action_log_quiet(
        workspace=row.workspace,
        agent=QUALIFY.name,
        action=QUALIFY.action,
        customer=customer,
        properties={"title": "Qualified: ready to book", "channel": dialog.channel, "answers": answers},
        traits={**answers, "ready_to_book": True},
        key=f"action-{row.pk}",
    )
    dialog.status, dialog.detail = DialogStatus.DONE, "Qualified: ready to book"
    if event is None:
        dialog.detail = "Qualified; answers in the thread only (the person opted out of analytics)"
    booking_on = AgentSetting.objects.filter(
        workspace=row.workspace, agent=BOOKING_ASSISTANT.name, enabled=True
    ).exists()
    if booking_on:
        # Offered at once (this tick's runner reads actions by id, so it picks this one up too).
        booking_offer_plan(
            workspace=row.workspace,
            customer=customer,
            trigger=f"lead:{event.pk}" if event else f"lead:dialog-{dialog.pk}",
            channel=dialog.channel,
            due=row.due_at,
        )
    else:
        thanks = template_render(
            config["thanks"], {"first_name": first_name(customer), "workspace": row.workspace.name}
        )
        if thanks:
            row.message = _say(row.workspace, customer, dialog.channel, thanks, QUALIFY.name)
    return ActionStatus.DONE, dialog.detail + (" (slots offered next)" if booking_on else "")


def booking_offer_plan(
    *, workspace: Workspace, customer: Customer, trigger: str, channel: str, due: datetime.datetime
) -> bool:
    """The Booking assistant's offer after a `lead_qualified` (trigger `lead:<event id>`): once per event."""
    try:
        with transaction.atomic():
            ScheduledAction.objects.create(
                workspace=workspace,
                agent=BOOKING_ASSISTANT.name,
                customer=customer,
                trigger=trigger,
                due_at=due,
                payload={"channel": channel},
            )
    except IntegrityError:
        return False
    return True


# --- Booking assistant -------------------------------------------------------------------------------


def _calendly(workspace: Workspace, config: dict[str, Any]) -> tuple[str, str] | None:
    """(token, event type URI) when the assistant books through Calendly."""
    event_type = (config.get("calendly_event_type_url") or "").strip()
    connection = connection_get(workspace=workspace, provider="calendly")
    token = (connection.credentials.get("api_token") or "") if connection else ""
    return (token, event_type) if event_type and token else None


def open_slots(*, workspace: Workspace, config: dict[str, Any], now: datetime.datetime) -> tuple[str, list[Slot]]:
    """("calendly" | "availability", the 3 times to offer)."""
    zone = workspace_zone(workspace.timezone)
    lead = datetime.timedelta(hours=int(config["lead_hours"]))
    minutes = int(config["slot_minutes"])
    calendly = _calendly(workspace, config)
    if calendly is not None:
        token, event_type = calendly
        start = now + max(lead, datetime.timedelta(minutes=1))  # Calendly wants a start in the future
        try:
            times = available_times(api_token=token, event_type=event_type, start=start, end=start + CALENDLY_RANGE)
        except CalendlyError as exc:
            raise IntegrationInputError(str(exc)) from None
        candidates = [
            Slot(start=t.start_time, end=t.start_time + datetime.timedelta(minutes=minutes), url=t.scheduling_url)
            for t in times
        ]
        return "calendly", slots_spread(candidates, zone=zone)
    try:
        windows = availability_parse(config["availability"])
    except ValueError as exc:
        raise AgentInputError(str(exc)) from None
    taken = taken_starts(workspace=workspace, now=now)
    return "availability", slots_from_windows(windows, zone=zone, now=now, minutes=minutes, lead=lead, taken=taken)


def _slots_text(slots: list[Slot], zone: Any) -> str:
    return "\n".join(f"{n}) {when_label(slot.start, zone)}" for n, slot in enumerate(slots, start=1))


def _offer(
    row: ScheduledAction, dialog: AgentDialog, config: dict[str, Any], *, now: datetime.datetime, intro: str = ""
) -> Result:
    """Find 3 open times, send them, log `booking_offered`."""
    customer = row.customer
    zone = workspace_zone(row.workspace.timezone)
    source, slots = open_slots(workspace=row.workspace, config=config, now=now)
    if not slots:
        dialog.status, dialog.detail = DialogStatus.CANCELLED, "No open times to offer"
        return ActionStatus.FAILED, "No open times in the next 14 days: check the availability"
    dialog.state = {**dialog.state, "source": source, "slots": [s.as_state() for s in slots]}
    body = template_render(
        config["template"],
        {"first_name": first_name(customer), "workspace": row.workspace.name, "slots": _slots_text(slots, zone)},
    )
    # Logged before the message leaves, so the Inbox's drop-offs see it as the step before the silence.
    agent_action_log_quiet(
        workspace=row.workspace,
        agent=BOOKING_ASSISTANT.name,
        action="booking_offered",
        customer=customer,
        properties={
            "title": f"Offered {len(slots)} times",
            "channel": dialog.channel,
            "source": source,
            "slots": [s.start.isoformat() for s in slots],
        },
        key=f"action-{row.pk}",
    )
    row.message = _say(row.workspace, customer, dialog.channel, f"{intro}\n{body}".strip(), BOOKING_ASSISTANT.name)
    dialog.detail = f"Offered {len(slots)} times ({source})"
    return ActionStatus.DONE, f"Offered {len(slots)} times by {dialog.channel} ({source})"


def _offer_start(row: ScheduledAction, config: dict[str, Any], *, now: datetime.datetime) -> Result:
    customer = row.customer
    channel, refused = _reachable(row, customer, no_channel="No channel to offer times on")
    if refused:
        return refused
    ids = thread_customer_ids(workspace=row.workspace, customer=customer)
    if AgentDialog.objects.filter(
        workspace=row.workspace, agent=BOOKING_ASSISTANT.name, customer_id__in=ids, status=DialogStatus.OPEN
    ).exists():
        return ActionStatus.CANCELLED, "Times were offered already and wait for an answer"
    if Booking.objects.filter(
        workspace=row.workspace, customer_id__in=ids, status=BookingStatus.BOOKED, start_at__gt=now
    ).exists():
        return ActionStatus.CANCELLED, "The person has a booking coming up"
    if AgentDialog.objects.filter(
        workspace=row.workspace, agent=BOOKING_ASSISTANT.name, customer=customer, trigger=row.trigger
    ).exists():
        return ActionStatus.CANCELLED, "Offered before for this qualification (a merged profile)"
    dialog = AgentDialog(
        workspace=row.workspace,
        agent=BOOKING_ASSISTANT.name,
        customer=customer,
        trigger=row.trigger,
        channel=channel,
        last_read_id=_last_inbound_id(row.workspace, ids),
        updated_at=now,
    )
    result = _offer(row, dialog, config, now=now)
    dialog.save()
    return result


def _book(
    row: ScheduledAction, dialog: AgentDialog, slot: Slot, config: dict[str, Any], *, now: datetime.datetime
) -> Result | None:
    """Book `slot`; None when it was taken meanwhile (the caller offers new times)."""
    customer = row.customer
    zone = workspace_zone(row.workspace.timezone)
    when = when_label(slot.start, zone)
    properties: dict[str, Any] = {
        "title": f"Booked {when}",
        "channel": dialog.channel,
        "source": dialog.state.get("source"),
        "start_time": slot.start.isoformat(),
    }
    if dialog.state.get("source") == "calendly":
        calendly = _calendly(row.workspace, config)
        if calendly is None:
            raise IntegrationInputError("Calendly is no longer connected with a token and an event type.")
        if not customer.email:
            # Calendly books by email: without one, the person gets the time's own booking page.
            row.message = _say(
                row.workspace,
                customer,
                dialog.channel,
                f"Great, {first_name(customer)}! Confirm {when} here: {slot.url}",
                BOOKING_ASSISTANT.name,
            )
            dialog.status, dialog.detail = DialogStatus.DONE, "Sent Calendly's booking page (no email to book with)"
            return ActionStatus.DONE, dialog.detail
        token, event_type = calendly
        try:
            uri = invitee_create(
                api_token=token,
                event_type=event_type,
                start_time=slot.start,
                email=customer.email,
                name=customer.name,
                timezone_name=row.workspace.timezone,
                phone=customer.phone,
            )
        except CalendlyError as exc:
            if exc.status in TIME_GONE:
                return None  # the time was taken meanwhile: new times are offered
            # The person is told nothing wrong; the team books by hand from the thread.
            needs_human_mark(row.workspace, customer, reason="the booking could not be made in Calendly")
            dialog.status, dialog.detail = DialogStatus.CANCELLED, f"Not booked: {exc}"[:300]
            return ActionStatus.FAILED, f"{exc} — the thread needs human eyes"[:300]
        booking = Booking.objects.create(
            workspace=row.workspace,
            customer=customer,
            start_at=slot.start,
            end_at=slot.end,
            source="calendly",
            external_uri=uri,
        )
        # The same key as Calendly's own `invitee.created` webhook: the Follow-up plans one reminder.
        properties["invitee_uri"] = uri
    else:
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    workspace=row.workspace,
                    customer=customer,
                    start_at=slot.start,
                    end_at=slot.end,
                    source="availability",
                )
        except IntegrityError:
            return None
        properties["booking_id"] = own_booking_id(booking.pk)
    agent_action_log(
        workspace=row.workspace,
        agent=BOOKING_ASSISTANT.name,
        action=BOOKING_ASSISTANT.action,
        customer=customer,
        properties={**properties, "booking": booking.pk},
        key=f"action-{row.pk}",
        account_signal=True,
    )
    confirmation = template_render(
        config["confirmation"], {"first_name": first_name(customer), "workspace": row.workspace.name, "when": when}
    )
    if booking.source == "availability":
        # Calendly sends its own confirmation, with its own reschedule and cancel links.
        confirmation += f"\n{MANAGE_LINE}{booking_url(booking)}"
    row.message = _say(row.workspace, customer, dialog.channel, confirmation, BOOKING_ASSISTANT.name)
    dialog.status, dialog.detail = DialogStatus.DONE, f"Booked {when}"
    return ActionStatus.DONE, f"Booked {when}"


def _booking_answer(
    row: ScheduledAction, dialog: AgentDialog, answer: str, config: dict[str, Any], *, now: datetime.datetime
) -> Result:
    slots = [Slot.from_state(s) for s in dialog.state.get("slots") or []]
    match = _CHOICE.match(answer)
    if match is None or int(match.group(1)) > len(slots):
        retries = int(dialog.state.get("retries") or 0)
        if retries >= BOOKING_RETRIES:
            needs_human_mark(row.workspace, row.customer, reason="did not pick an offered time")
            dialog.status, dialog.detail = DialogStatus.CANCELLED, "Handed to a person (no time picked)"
            return ActionStatus.DONE, "No time picked: the thread needs human eyes"
        dialog.state = {**dialog.state, "retries": retries + 1}
        zone = workspace_zone(row.workspace.timezone)
        body = f"Please reply 1, 2 or 3 to book:\n{_slots_text(slots, zone)}"
        row.message = _say(row.workspace, row.customer, dialog.channel, body, BOOKING_ASSISTANT.name)
        return ActionStatus.DONE, "Not a choice: asked again for 1, 2 or 3"
    slot = slots[int(match.group(1)) - 1]
    if slot.start > now:
        result = _book(row, dialog, slot, config, now=now)
        if result is not None:
            return result
    return _offer(row, dialog, config, now=now, intro="Sorry, that time is no longer open.")


# --- reading an answer ------------------------------------------------------------------------------


def _answer(row: ScheduledAction, config: dict[str, Any], *, now: datetime.datetime) -> Result:
    customer = row.customer
    message_id = int(row.trigger.partition(":")[2] or 0)
    ids = thread_customer_ids(workspace=row.workspace, customer=customer)
    dialog = (
        AgentDialog.objects.select_for_update()
        .filter(workspace=row.workspace, agent=row.agent, customer_id__in=ids, status=DialogStatus.OPEN)
        .order_by("-created_at", "-pk")
        .first()
    )
    if dialog is None:
        return ActionStatus.CANCELLED, "No question waits for an answer"
    if message_id <= dialog.last_read_id:
        return ActionStatus.DONE, "Read with an earlier message"
    if now - dialog.updated_at > DIALOG_EXPIRY:
        dialog.status, dialog.detail = DialogStatus.CANCELLED, "No answer within 7 days"
        dialog.save(update_fields=["status", "detail"])
        return ActionStatus.CANCELLED, "The question had expired (no answer within 7 days)"
    # Every message not read yet, also those after this one: a person who wrote twice in a row gave
    # one answer (the later message's own step then finds it read).
    unread = list(
        Message.objects.filter(
            workspace=row.workspace, customer_id__in=ids, direction=Direction.IN, pk__gt=dialog.last_read_id
        ).order_by("pk")
    )
    texts = [answer_text(m.body, m.channel) for m in unread if sms_intent(m.body) != "opt_out"]
    answer = " ".join(t for t in texts if t)[:MAX_ANSWER]
    dialog.last_read_id = max([message_id, *(m.pk for m in unread)])
    dialog.updated_at = now
    if opted_out(customer, dialog.channel):
        dialog.status, dialog.detail = DialogStatus.CANCELLED, "The person opted out"
        dialog.save()
        return ActionStatus.CANCELLED, "The person opted out"
    if not answer:
        dialog.save()
        return ActionStatus.DONE, "Empty message: nothing to read"
    if dialog.agent == QUALIFY.name:
        result = _qualify_answer(row, dialog, answer, config)
    else:
        result = _booking_answer(row, dialog, answer, config, now=now)
    dialog.save()
    return result


def dialogs_end(*, workspace: Workspace, customer: Customer, reason: str) -> int:
    """End the person's open dialogs (an opt-out, or they asked for a person)."""
    return AgentDialog.objects.filter(
        workspace=workspace,
        customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
        status=DialogStatus.OPEN,
    ).update(status=DialogStatus.CANCELLED, detail=reason[:300])
