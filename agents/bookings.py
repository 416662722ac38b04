"""A person moves or cancels a booking the Booking assistant made, from the signed link in its
confirmation (agents.booking_links, agents.booking_views).

Cancelling marks the `Booking` cancelled (its time is open again at once) and logs `booking_cancelled`
naming it (`booking_id: clarm-booking:<id>`), the event the runner reads to cancel the booking's
Follow-up and Review ask. Moving takes one of the open times the assistant would offer now
(`agents.dialogs.open_slots`): the old row is cancelled and points at a new one (`moved_to`; one
booking per start time is still the database's rule), and `booking_rescheduled` names both, so the
runner cancels the old reminders and plans new ones. Both events are Clarm's own (key `clarm:agent:…`),
the only source the runner trusts for an assistant booking. Only a booking that has not started can be
changed; the person is told in their thread, with a new link after a move."""

import datetime
import logging
from typing import Any

from django.db import IntegrityError, transaction

from agents.availability import Slot
from agents.booking_links import booking_url
from agents.dialogs import MANAGE_LINE, open_slots, when_label
from agents.models import AgentSetting, Booking, BookingStatus
from agents.registry import BOOKING_ASSISTANT, agent_config
from agents.services import AgentInputError, agent_action_log, conversation_reply
from agents.summary.periods import workspace_zone
from identity.selectors import customer_survivor
from identity.timeline import BOOKING_MOVED, own_booking_id
from integrations.services import IntegrationInputError
from workspaces.models import Workspace

MAX_MOVES_FOLLOWED = 20
logger = logging.getLogger(__name__)


class BookingChangeError(Exception):
    """The booking cannot be changed as asked; the message says why (and `status` for the page)."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def booking_current(*, workspace: Workspace, booking_id: int) -> Booking | None:
    """The booking a link names, or the one it was moved to (a link from before a move still works)."""
    booking = Booking.objects.filter(workspace=workspace, pk=booking_id).select_related("customer").first()
    for _ in range(MAX_MOVES_FOLLOWED):
        if booking is None or booking.moved_to_id is None:
            break
        booking = Booking.objects.filter(workspace=workspace, pk=booking.moved_to_id).select_related("customer").first()
    return booking


def booking_state(booking: Booking, *, now: datetime.datetime) -> str:
    """ "calendly" (changed in Calendly), "cancelled", "past" (started or over) or "open"."""
    if booking.source != "availability":
        return "calendly"
    if booking.status != BookingStatus.BOOKED:
        return "cancelled"
    if booking.start_at <= now:
        return "past"
    return "open"


def _assistant_config(workspace: Workspace) -> dict[str, Any]:
    row = AgentSetting.objects.filter(workspace=workspace, agent=BOOKING_ASSISTANT.name).first()
    return agent_config(BOOKING_ASSISTANT, row.config if row else None)


def move_slots(*, workspace: Workspace, now: datetime.datetime) -> list[Slot]:
    """The open times a booking can move to: the ones the assistant would offer now (the weekly
    availability minus the times taken). None while the assistant books through Calendly."""
    config = _assistant_config(workspace)
    if (config.get("calendly_event_type_url") or "").strip():
        return []
    try:
        source, slots = open_slots(workspace=workspace, config=config, now=now)
    except (AgentInputError, IntegrationInputError):
        return []
    return slots if source == "availability" else []


def _locked(booking: Booking, now: datetime.datetime) -> Booking:
    row = Booking.objects.select_for_update().select_related("customer", "workspace").get(pk=booking.pk)
    state = booking_state(row, now=now)
    if state == "cancelled":
        raise BookingChangeError("This booking is already cancelled.")
    if state == "past":
        raise BookingChangeError("This booking has already started, so it can't be changed here.", status=410)
    if state == "calendly":
        raise BookingChangeError("This booking was made in Calendly: change it from Calendly's own email.")
    return row


def _log(row: Booking, action: str, properties: dict[str, Any], key: str) -> None:
    # A booking record, kept like the booking itself whatever the person's analytics choice
    # (`account_signal`: transactional; the person is on the account rung since they booked).
    agent_action_log(
        workspace=row.workspace,
        agent=BOOKING_ASSISTANT.name,
        action=action,
        customer=row.customer,
        properties={**properties, "via": "booking page"},
        key=key,
        account_signal=True,
    )


def _tell(row: Booking, body: str) -> None:
    """Say it in the person's thread (their last channel); a send that is refused (opted out, no
    provider) does not undo the change: the page already told them."""
    customer = customer_survivor(workspace=row.workspace, customer=row.customer) or row.customer
    try:
        conversation_reply(workspace=row.workspace, customer=customer, body=body, agent=BOOKING_ASSISTANT.name)
    except IntegrationInputError as exc:
        logger.info("Booking %s changed; the person was not told in their thread: %s", row.pk, exc)


def booking_cancel(*, booking: Booking, now: datetime.datetime) -> Booking:
    with transaction.atomic():
        row = _locked(booking, now)
        row.status = BookingStatus.CANCELLED
        row.save(update_fields=["status"])
        when = when_label(row.start_at, workspace_zone(row.workspace.timezone))
        _log(
            row,
            "booking_cancelled",
            {
                "title": f"Cancelled {when}",
                "booking_id": own_booking_id(row.pk),
                "booking": row.pk,
                "start_time": row.start_at.isoformat(),
            },
            key=f"booking-cancel-{row.pk}",
        )
        _tell(row, f"Your booking for {when} is cancelled. Reply here any time to book another.")
    return row


def booking_move(*, booking: Booking, start: datetime.datetime, now: datetime.datetime) -> Booking:
    """Move the booking to `start`, one of `move_slots`; returns the new booking."""
    slot = next((s for s in move_slots(workspace=booking.workspace, now=now) if s.start == start), None)
    if slot is None:
        raise BookingChangeError("That time is no longer open. Choose one of the open times below.")
    with transaction.atomic():
        row = _locked(booking, now)
        row.status = BookingStatus.CANCELLED
        row.save(update_fields=["status"])
        try:
            with transaction.atomic():
                moved = Booking.objects.create(
                    workspace=row.workspace,
                    customer=row.customer,
                    start_at=slot.start,
                    end_at=slot.end,
                    source="availability",
                )
        except IntegrityError:
            raise BookingChangeError("That time was just taken. Choose one of the open times below.") from None
        row.moved_to = moved
        row.save(update_fields=["moved_to"])
        zone = workspace_zone(row.workspace.timezone)
        when = when_label(moved.start_at, zone)
        _log(
            row,
            BOOKING_MOVED,
            {
                "title": f"Moved to {when}",
                "booking_id": own_booking_id(moved.pk),
                "booking": moved.pk,
                "start_time": moved.start_at.isoformat(),
                "previous_booking_id": own_booking_id(row.pk),
                "previous_start_time": row.start_at.isoformat(),
            },
            key=f"booking-move-{row.pk}",
        )
        _tell(row, f"Your booking is moved to {when}.\n{MANAGE_LINE}{booking_url(moved)}")
    return moved
