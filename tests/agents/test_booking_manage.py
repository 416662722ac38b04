"""The person's booking page, from the signed link in the Booking assistant's confirmation: move the
booking to another open time or cancel it. A cancel or a move frees the time, logs the event and
cancels the Follow-up reminder (a move plans a new one); a bad, expired or foreign link, a GET, a
POST without the CSRF token or a booking that has started changes nothing."""

import datetime
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from agents.availability import taken_starts
from agents.booking_links import BOOKING_LINK_SALT, booking_url
from agents.bookings import move_slots
from agents.dialogs import MANAGE_LINE, when_label
from agents.models import Booking, BookingStatus, ScheduledAction
from agents.services import agent_action_log, agent_setting_save
from agents.tasks import agents_tick
from identity.privacy.tokens import preferences_token
from tests.agents.helpers import person
from tests.agents.test_booking_assistant import NEW_YORK, movers, nines, ours, tick  # noqa: F401
from tests.agents.test_qualify import chat
from tests.factories import make_workspace
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest

pytestmark = pytest.mark.django_db


def booked_in_chat(workspace, capture):
    """A visitor qualified by an external bot, offered 3 times in the chat, who answers 3 (the third
    day at 09:00); the Follow-up is on. Returns (customer, booking, the page's path from the link)."""
    agent_setting_save(
        workspace=workspace,
        agent="booking_assistant",
        enabled=True,
        config={"availability": "Mon-Sun 09:00-10:00", "slot_minutes": 60, "lead_hours": 2},
    )
    agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)
    first = chat(workspace, "Hello, I need a move")
    customer = first.session.customer
    agent_action_log(
        workspace=workspace, agent="my-bot", action="lead_qualified", customer=customer, properties={"channel": "web"}
    )
    tick(capture)
    chat(workspace, "3", session=first.session)
    tick(capture)
    tick(capture)  # reads the booking: plans its reminder
    booking = Booking.objects.get(customer=customer)
    link = ours(customer)[-1].split(MANAGE_LINE, 1)[1]
    return customer, booking, urlsplit(link).path


def post(client: Client, path: str, **data: str):
    client.get(path)  # the page sets the CSRF cookie its forms carry
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_the_person_moves_their_booking_to_another_open_time(movers, django_capture_on_commit_callbacks):  # noqa: F811
    workspace = movers.workspace
    customer, booking, path = booked_in_chat(workspace, django_capture_on_commit_callbacks)
    days = nines(timezone.now(), 4)
    assert booking.start_at == days[2]
    reminder = ScheduledAction.objects.get(agent="follow_up", trigger=f"booking:clarm-booking:{booking.pk}")
    assert reminder.status == "pending"
    client = Client(enforce_csrf_checks=True)
    html = client.get(path).content.decode()
    assert "Your booking with Hudson Movers" in html and when_label(days[2], NEW_YORK) in html
    assert 'data-status="open"' in html
    # The open times the assistant would offer now: the other days, not the one it holds.
    options = re.findall(
        r'<label class="toggle" for="slot-(\d)"><input type="radio" id="slot-\1" name="start" '
        r'value="([^"]+)" required>([^<]+)</label>',
        html,
    )
    assert [(value, label) for _, value, label in options] == [
        (day.isoformat(), when_label(day, NEW_YORK)) for day in (days[0], days[1], days[3])
    ]
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.BOOKED  # a GET changes nothing
    response = post(client, path, action="move", start=days[3].isoformat())
    assert response.status_code == 302 and response["Location"] == path
    html = client.get(path).content.decode()
    assert f"Your booking is moved to {when_label(days[3], NEW_YORK)}." in html
    assert f'<time datetime="{days[3].astimezone(NEW_YORK).isoformat()}">{when_label(days[3], NEW_YORK)}</time>' in html
    booking.refresh_from_db()
    moved = Booking.objects.get(customer=customer, status=BookingStatus.BOOKED)
    assert booking.status == BookingStatus.CANCELLED and booking.moved_to_id == moved.pk
    assert (moved.start_at, moved.end_at) == (days[3], days[3] + datetime.timedelta(hours=1))
    event = Event.objects.get(event="booking_rescheduled")
    assert (
        event.source == "agent" and event.customer_id == customer.pk and (event.message_id or "").startswith("clarm:")
    )
    assert event.properties["booking_id"] == f"clarm-booking:{moved.pk}"
    assert event.properties["previous_booking_id"] == f"clarm-booking:{booking.pk}"
    assert event.properties["start_time"] == days[3].isoformat()
    # The person is told in the chat, with a link to the moved booking.
    told, link = ours(customer)[-1].split("\n")
    assert told == f"Your booking is moved to {when_label(days[3], NEW_YORK)}."
    assert client.get(urlsplit(link.removeprefix(MANAGE_LINE)).path).status_code == 200
    # The next tick cancels the old reminder and plans the new one (24 h before, wall clock).
    tick(django_capture_on_commit_callbacks)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.detail) == ("cancelled", "Booking moved")
    new = ScheduledAction.objects.get(agent="follow_up", trigger=f"booking:clarm-booking:{moved.pk}")
    assert new.status == "pending"
    assert new.due_at == (days[3].astimezone(NEW_YORK) - datetime.timedelta(days=1)).astimezone(datetime.UTC)
    # The old time is open again.
    assert days[2] in [slot.start for slot in move_slots(workspace=workspace, now=timezone.now())]


def test_the_person_cancels_and_the_reminder_is_cancelled(movers, django_capture_on_commit_callbacks):  # noqa: F811
    workspace = movers.workspace
    customer, booking, path = booked_in_chat(workspace, django_capture_on_commit_callbacks)
    reminder = ScheduledAction.objects.get(agent="follow_up", trigger=f"booking:clarm-booking:{booking.pk}")
    client = Client(enforce_csrf_checks=True)
    response = post(client, path, action="cancel")
    assert response.status_code == 302
    html = client.get(path).content.decode()
    assert "Your booking is cancelled." in html and 'data-status="cancelled"' in html
    assert 'name="action"' not in html  # nothing left to change
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.start_at not in taken_starts(workspace=workspace, now=timezone.now())
    event = Event.objects.get(event="booking_cancelled")
    assert event.source == "agent" and event.properties["booking_id"] == f"clarm-booking:{booking.pk}"
    assert ours(customer)[-1] == (
        f"Your booking for {when_label(booking.start_at, NEW_YORK)} is cancelled. Reply here any time to book another."
    )
    assert ScheduledAction.objects.get(pk=reminder.pk).status == "pending"
    tick(django_capture_on_commit_callbacks)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.detail) == ("cancelled", "Booking cancelled")
    # The reminder's time comes and goes: nothing is sent.
    with django_capture_on_commit_callbacks(execute=True):
        agents_tick(now=(reminder.due_at + datetime.timedelta(minutes=1)).isoformat())
    assert not Event.objects.filter(event="reminder_sent").exists()
    assert ScheduledAction.objects.get(pk=reminder.pk).status == "cancelled"
    # Cancelling again is refused, and logs nothing more.
    again = post(client, path, action="cancel")
    assert again.status_code == 409 and "This booking is already cancelled." in again.content.decode()
    assert Event.objects.filter(event="booking_cancelled").count() == 1


@pytest.fixture
def held(movers):  # noqa: F811
    """A booking the assistant holds for Dana 3 days from now (her phone has no SMS provider: the
    thread message is not sent, the change is made anyway)."""
    workspace = movers.workspace
    dana = person(workspace, email="dana@example.com")
    start = nines(timezone.now(), 3)[2]
    booking = Booking.objects.create(
        workspace=workspace,
        customer=dana,
        start_at=start,
        end_at=start + datetime.timedelta(hours=1),
        source="availability",
    )
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-10:00"}
    )
    return booking


def unchanged(booking: Booking) -> bool:
    row = Booking.objects.get(pk=booking.pk)
    return (
        row.status == BookingStatus.BOOKED
        and row.start_at == booking.start_at
        and row.moved_to_id is None
        and Booking.objects.filter(workspace=booking.workspace).count() == 1
        and not Event.objects.filter(event__in=["booking_cancelled", "booking_rescheduled"]).exists()
    )


def test_bad_expired_and_foreign_links_change_nothing(client, held):
    path = urlsplit(booking_url(held)).path
    token = path.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other, _, _, _ = make_workspace("Rival Movers")
    foreign = signing.dumps({"w": other.pk, "b": held.pk, "p": "booking"}, salt=BOOKING_LINK_SALT)
    for bad in (tampered, "not-a-token", preferences_token(held.customer)):
        for response in (client.get(f"/booking/{bad}"), client.post(f"/booking/{bad}", {"action": "cancel"})):
            assert response.status_code == 400 and "This link is not valid" in response.content.decode()
    for response in (client.get(f"/booking/{foreign}"), client.post(f"/booking/{foreign}", {"action": "cancel"})):
        assert response.status_code == 404 and "We could not find this booking" in response.content.decode()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=46)):
        for response in (client.get(path), client.post(path, {"action": "cancel"})):
            assert response.status_code == 410 and "This link has expired" in response.content.decode()
    assert client.put(path).status_code == 405
    # Without the CSRF token a POST is refused.
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(path, {"action": "cancel"}).status_code == 403
    assert unchanged(held)


def test_a_time_not_open_or_a_bad_choice_is_refused_naming_it(client, held):
    path = urlsplit(booking_url(held)).path
    days = nines(timezone.now(), 4)
    # Someone else took the 4th day since the page was opened.
    taken = Booking.objects.create(
        workspace=held.workspace,
        customer=person(held.workspace, email="sam@example.com", phone="+14155550199", visitor="dev-sam"),
        start_at=days[3],
        end_at=days[3],
        source="availability",
    )
    refused = client.post(path, {"action": "move", "start": days[3].isoformat()})
    assert refused.status_code == 409
    assert "That time is no longer open. Choose one of the open times below." in refused.content.decode()
    for data, message in (
        ({"action": "move", "start": "next tuesday"}, "Choose one of the open times below."),
        ({"action": "move", "start": days[0].replace(tzinfo=None).isoformat()}, "Choose one of the open times below."),
        ({"action": "delete"}, "Choose to move or to cancel the booking."),
    ):
        response = client.post(path, data)
        assert response.status_code == 400 and message in response.content.decode()
    row = Booking.objects.get(pk=held.pk)
    assert row.status == BookingStatus.BOOKED and row.start_at == held.start_at and row.moved_to_id is None
    assert Booking.objects.get(pk=taken.pk).customer.email == "sam@example.com"
    assert not Event.objects.filter(event__in=["booking_cancelled", "booking_rescheduled"]).exists()


def test_a_booking_that_has_started_cannot_be_changed(client, held):
    Booking.objects.filter(pk=held.pk).update(start_at=timezone.now() - datetime.timedelta(minutes=5))
    held.refresh_from_db()
    path = urlsplit(booking_url(held)).path
    html = client.get(path).content.decode()
    assert 'data-status="past"' in html and "already started" in html and 'name="action"' not in html
    response = client.post(path, {"action": "cancel"})
    assert response.status_code == 410
    assert "This booking has already started, so it can't be changed here." in response.content.decode()
    assert unchanged(held)


def test_a_booking_rescheduled_sent_with_the_write_key_moves_nothing(movers, django_capture_on_commit_callbacks):  # noqa: F811
    """The assistant's booking ids are guessable and the write key is public: only Clarm's own page
    moves a booking."""
    workspace = movers.workspace
    customer, booking, _ = booked_in_chat(workspace, django_capture_on_commit_callbacks)
    reminder = ScheduledAction.objects.get(agent="follow_up", trigger=f"booking:clarm-booking:{booking.pk}")
    later = booking.start_at + datetime.timedelta(days=1)
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(
                event="booking_rescheduled",
                source="agent",
                visitor_id="visitor-dana-01",
                occurred_at=timezone.now(),
                properties={
                    "booking_id": "clarm-booking:999999",
                    "previous_booking_id": f"clarm-booking:{booking.pk}",
                    "start_time": later.isoformat(),
                },
            )
        ],
    )
    assert Event.objects.filter(event="booking_rescheduled", customer=customer).exists()
    tick(django_capture_on_commit_callbacks)
    assert ScheduledAction.objects.get(pk=reminder.pk).status == "pending"
    assert not ScheduledAction.objects.filter(trigger="booking:clarm-booking:999999").exists()
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.BOOKED
