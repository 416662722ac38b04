"""The Booking assistant: 3 open times from the workspace's weekly availability (minus bookings taken)
or from Calendly's available times, offered in the thread; the person answers 1, 2 or 3 and the time
is booked (`booking_offered`, `booking_taken`), and the Follow-up reminder is planned from it.
Calendly is a local server checking the documented requests."""

import datetime
import json
import zoneinfo
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.db import IntegrityError
from django.utils import timezone

from agents.availability import Slot, availability_parse, slots_from_windows
from agents.dialogs import when_label
from agents.models import AgentDialog, Booking, Conversation, DialogStatus, Direction, Message, ScheduledAction
from agents.selectors import DropOff, drop_offs
from agents.services import AgentInputError, agent_action_log, agent_setting_save
from agents.tasks import agents_tick
from identity.models import Customer
from integrations.events import event_record
from integrations.services import connection_save
from tests.agents.helpers import booking, inbound, person
from tests.agents.test_qualify import chat
from tests.factories import UserFactory, make_workspace
from tests.integrations.conftest import CALENDLY_KEY, TWILIO_SID, TWILIO_TOKEN, ProviderApi
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
EVENT_TYPE = "https://api.calendly.com/event_types/ETMOVE123"
INVITEE = "https://api.calendly.com/scheduled_events/EV1/invitees/INV1"


@pytest.fixture
def movers(db):
    workspace, owner, _, _ = make_workspace("Hudson Movers", timezone_name="America/New_York")
    return type("Tenant", (), {"workspace": workspace, "owner": owner})


def tick(capture) -> dict:
    with capture(execute=True):
        return agents_tick()


def ours(customer: Customer) -> list[str]:
    return list(
        Message.objects.filter(customer=customer, direction=Direction.OUT).order_by("pk").values_list("body", flat=True)
    )


def nines(now: datetime.datetime, count: int) -> list[datetime.datetime]:
    """The next `count` 09:00s in New York at least 2 hours from now."""
    day = now.astimezone(NEW_YORK).date()
    found: list[datetime.datetime] = []
    while len(found) < count:
        start = datetime.datetime.combine(day, datetime.time(9), tzinfo=NEW_YORK).astimezone(datetime.UTC)
        if start >= now + datetime.timedelta(hours=2):
            found.append(start)
        day += datetime.timedelta(days=1)
    return found


def offer_text(starts: list[datetime.datetime]) -> str:
    lines = "\n".join(f"{n}) {when_label(s, NEW_YORK)}" for n, s in enumerate(starts, start=1))
    return f"Hi there, here are our next open times:\n{lines}\nReply 1, 2 or 3 to book."


def test_qualified_lead_is_offered_three_open_times_and_books_the_one_chosen(
    movers, django_capture_on_commit_callbacks
):
    workspace = movers.workspace
    agent_setting_save(workspace=workspace, agent="qualify", enabled=True, config={"questions": "size: How big?"})
    agent_setting_save(
        workspace=workspace,
        agent="booking_assistant",
        enabled=True,
        config={"availability": "Mon-Sun 09:00-10:00", "slot_minutes": 60, "lead_hours": 2},
    )
    agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)
    days = nines(timezone.now(), 5)
    # Taken already: one booked by the assistant, one booked through Calendly (on the timeline).
    someone = person(workspace, email="sam@example.com", phone="+14155550199", visitor="dev-sam")
    Booking.objects.create(
        workspace=workspace, customer=someone, start_at=days[0], end_at=days[0], source="availability"
    )
    booking(workspace, email="sam@example.com", start=days[1], uri="https://api.calendly.com/invitees/SAM")
    first = chat(workspace, "Hi, I need a move")
    customer = first.session.customer
    tick(django_capture_on_commit_callbacks)
    chat(workspace, "2 bedrooms", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert ours(customer)[-1] == offer_text(days[2:5])
    offered = Event.objects.get(event="booking_offered")
    assert offered.source == "agent" and offered.customer_id == customer.pk
    assert offered.properties["slots"] == [d.isoformat() for d in days[2:5]]
    assert offered.properties["source"] == "availability"
    chat(workspace, "2", session=first.session)
    tick(django_capture_on_commit_callbacks)
    chosen = days[3]
    confirmation, manage = ours(customer)[-1].split("\n")
    assert confirmation == f"You're booked for {when_label(chosen, NEW_YORK)}, there. See you then!"
    assert manage.startswith(f"To move or cancel it: {settings.CLARM_PUBLIC_URL}/booking/")  # its signed link
    mine = Booking.objects.get(customer=customer)
    assert (mine.start_at, mine.end_at, mine.source) == (chosen, chosen + datetime.timedelta(hours=1), "availability")
    taken = Event.objects.get(event="booking_taken")
    assert taken.source == "agent" and taken.customer_id == customer.pk
    assert taken.properties["start_time"] == chosen.isoformat()
    assert taken.properties["booking_id"] == f"clarm-booking:{mine.pk}"
    assert AgentDialog.objects.get(agent="booking_assistant").status == DialogStatus.DONE
    # The Follow-up reminder is planned from the booking (24 h before, wall clock).
    tick(django_capture_on_commit_callbacks)
    reminder = ScheduledAction.objects.get(agent="follow_up", customer=customer)
    assert reminder.trigger == f"booking:clarm-booking:{mine.pk}"
    assert reminder.due_at == (chosen.astimezone(NEW_YORK) - datetime.timedelta(days=1)).astimezone(datetime.UTC)
    # The reminder goes out in the chat (the person has no phone or email) at its time.
    with django_capture_on_commit_callbacks(execute=True):
        agents_tick(now=(reminder.due_at + datetime.timedelta(seconds=5)).isoformat())
    reminder.refresh_from_db()
    assert reminder.status == "done" and reminder.detail == "Sent by web"
    assert ours(customer)[-1].startswith("Hi there, a reminder from Hudson Movers: see you ")
    # One booking per start time, held by the database.
    with pytest.raises(IntegrityError):
        Booking.objects.create(
            workspace=workspace, customer=someone, start_at=chosen, end_at=chosen, source="availability"
        )


def test_an_answer_that_is_not_a_choice_is_asked_again_then_goes_to_a_person(
    movers, django_capture_on_commit_callbacks
):
    workspace = movers.workspace
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-12:00"}
    )
    first = chat(workspace, "Hello")
    customer = first.session.customer
    agent_action_log(
        workspace=workspace, agent="my-bot", action="lead_qualified", customer=customer, properties={"channel": "web"}
    )
    tick(django_capture_on_commit_callbacks)
    assert ours(customer)[-1].startswith("Hi there, here are our next open times:\n1) ")
    chat(workspace, "maybe next week?", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert ours(customer)[-1].startswith("Please reply 1, 2 or 3 to book:\n1) ")
    chat(workspace, "hmm", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert Conversation.objects.get(customer=customer).needs_human
    assert AgentDialog.objects.get().status == DialogStatus.CANCELLED
    assert not Booking.objects.exists() and not Event.objects.filter(event="booking_taken").exists()


class CalendlyStandIn(ProviderApi):
    """Calendly's available times and Scheduling API on 127.0.0.1."""

    def __init__(self, times: list[datetime.datetime]) -> None:
        super().__init__()
        self.times = times
        self.post_status = 201

    @property
    def status(self) -> int:
        return self.post_status if self.requests and self.requests[-1]["method"] == "POST" else 200

    @status.setter
    def status(self, value: int) -> None:
        pass

    @property
    def body(self) -> dict:
        if self.requests and self.requests[-1]["method"] == "POST":
            if self.post_status != 201:
                return {"title": "Invalid Argument", "message": "The start time is not available."}
            return {"resource": {"uri": INVITEE, "status": "active"}}
        return {
            "collection": [
                {
                    "status": "available",
                    "invitees_remaining": 1,
                    "start_time": t.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                    "scheduling_url": f"https://calendly.com/hudson/move/{t:%Y-%m-%dT%H:%M}",
                }
                for t in self.times
            ]
        }

    @body.setter
    def body(self, value: dict) -> None:
        pass


def calendly_booking(movers, settings, times: list[datetime.datetime], **config: object) -> "CalendlyStandIn":
    """A local Calendly offering these times, connected to the workspace, the assistant booking
    through it. The caller stops it."""
    calendly = CalendlyStandIn(times)
    settings.CLARM_CALENDLY_API_URL = calendly.url
    connection_save(
        workspace=movers.workspace,
        provider="calendly",
        values={"signing_key": CALENDLY_KEY, "api_token": "cal_pat_123"},
        actor=movers.owner,
    )
    agent_setting_save(
        workspace=movers.workspace,
        agent="booking_assistant",
        enabled=True,
        config={"calendly_event_type_url": EVENT_TYPE, **config},
    )
    return calendly


def qualified_by_email(workspace) -> Customer:
    """A person an external bot marked qualified, reached by email."""
    customer = person(workspace, email="dana@example.com", phone="")
    agent_action_log(
        workspace=workspace, agent="my-bot", action="lead_qualified", customer=customer, properties={"channel": "email"}
    )
    return customer


def test_calendly_times_are_offered_and_the_chosen_one_booked_through_its_api(
    movers, settings, django_capture_on_commit_callbacks
):
    workspace = movers.workspace
    day = nines(timezone.now(), 3)
    times = [day[0], day[0] + datetime.timedelta(hours=1), day[1], day[2]]
    calendly = calendly_booking(movers, settings, times, slot_minutes=30)
    try:
        agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)
        customer = person(workspace, email="dana@example.com", phone="")
        Customer.objects.filter(pk=customer.pk).update(name="Dana Whitfield")
        agent_action_log(
            workspace=workspace,
            agent="my-bot",
            action="lead_qualified",
            customer=customer,
            properties={"channel": "email"},
        )
        tick(django_capture_on_commit_callbacks)
        [asked] = calendly.requests
        assert asked["method"] == "GET" and asked["headers"]["Authorization"] == "Bearer cal_pat_123"
        url = urlsplit(asked["path"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert url.path == "/event_type_available_times" and query["event_type"] == EVENT_TYPE
        start = datetime.datetime.fromisoformat(query["start_time"])
        end = datetime.datetime.fromisoformat(query["end_time"])
        assert query["start_time"].endswith("Z") and start > timezone.now()
        assert end - start == datetime.timedelta(days=7)
        [offer] = mail.outbox
        assert offer.to == ["dana@example.com"]
        labels = [when_label(t, NEW_YORK) for t in (day[0], day[1], day[2])]  # one per day
        assert all(f"{n}) {label}" in offer.body for n, label in enumerate(labels, start=1))
        assert Event.objects.get(event="booking_offered").properties["source"] == "calendly"
        inbound(customer, "Option 3 please", channel="email")
        tick(django_capture_on_commit_callbacks)
        booked = calendly.requests[-1]
        assert booked["method"] == "POST" and urlsplit(booked["path"]).path == "/invitees"
        assert booked["headers"]["Authorization"] == "Bearer cal_pat_123"
        assert json.loads(booked["body"]) == {
            "event_type": EVENT_TYPE,
            "start_time": day[2].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "invitee": {"email": "dana@example.com", "name": "Dana Whitfield", "timezone": "America/New_York"},
        }
        taken = Event.objects.get(event="booking_taken")
        assert taken.properties["invitee_uri"] == INVITEE and taken.properties["source"] == "calendly"
        assert Booking.objects.get(customer=customer).external_uri == INVITEE
        assert "You're booked for" in mail.outbox[-1].body
        # Calendly's own webhook for the same booking arrives: one reminder, not two.
        booking(workspace, email="dana@example.com", start=day[2], uri=INVITEE)
        tick(django_capture_on_commit_callbacks)
        tick(django_capture_on_commit_callbacks)
        [reminder] = ScheduledAction.objects.filter(agent="follow_up")
        assert reminder.trigger == f"booking:{INVITEE}"
    finally:
        calendly.stop()


def test_availability_slots_keep_local_hours_across_dst_and_skip_taken_ones():
    windows = availability_parse("Sat-Sun 09:00-11:00\nMon 13:00-14:00")
    now = datetime.datetime(2027, 3, 13, 5, 0, tzinfo=datetime.UTC)  # Sat 00:00 EST; DST starts Sun 02:00
    saturday_nine = datetime.datetime(2027, 3, 13, 14, 0, tzinfo=datetime.UTC)  # 09:00 EST
    slots = slots_from_windows(
        windows, zone=NEW_YORK, now=now, minutes=60, lead=datetime.timedelta(hours=1), taken={saturday_nine}
    )
    assert slots == [
        Slot(start=saturday_nine + datetime.timedelta(hours=1), end=saturday_nine + datetime.timedelta(hours=2)),
        # Sunday 09:00 EDT is 13:00 UTC (the day DST starts).
        Slot(
            start=datetime.datetime(2027, 3, 14, 13, 0, tzinfo=datetime.UTC),
            end=datetime.datetime(2027, 3, 14, 14, 0, tzinfo=datetime.UTC),
        ),
        Slot(
            start=datetime.datetime(2027, 3, 15, 17, 0, tzinfo=datetime.UTC),
            end=datetime.datetime(2027, 3, 15, 18, 0, tzinfo=datetime.UTC),
        ),
    ]


def test_booking_settings_are_validated_naming_the_problem(movers):
    def save(**config):
        agent_setting_save(workspace=movers.workspace, agent="booking_assistant", enabled=True, config=config)

    with pytest.raises(AgentInputError, match="availability, line 2: unknown day “funday”"):
        save(availability="Mon 09:00-10:00\nFunday 09:00-10:00")
    with pytest.raises(AgentInputError, match="availability, line 1: the end is not after the start"):
        save(availability="Mon 17:00-09:00")
    with pytest.raises(AgentInputError, match="slot_minutes must be from 10 to 480"):
        save(slot_minutes=5)
    with pytest.raises(AgentInputError, match="calendly_event_type_url must be an event type's URI"):
        save(calendly_event_type_url="https://calendly.com/hudson/move")
    assert not AgentDialog.objects.exists()


def test_qualify_then_booking_inside_the_whatsapp_thread(movers, twilio, django_capture_on_commit_callbacks):
    workspace = movers.workspace
    connection_save(
        workspace=workspace,
        provider="twilio",
        values={
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "sms_from": "+14155550100",
            "whatsapp_from": "+14155550111",
        },
        actor=movers.owner,
    )
    agent_setting_save(workspace=workspace, agent="qualify", enabled=True, config={"questions": "size: How big?"})
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-10:00"}
    )
    # The form and the WhatsApp message are read in the same tick: Qualify starts once, in the thread
    # the person wrote in (messages are read before forms).
    customer = person(workspace, email="", phone="+14155550123")
    inbound(customer, "Hi! Is Saturday free?", channel="whatsapp")
    tick(django_capture_on_commit_callbacks)
    inbound(customer, "Studio", channel="whatsapp")
    tick(django_capture_on_commit_callbacks)
    inbound(customer, "1", channel="whatsapp")
    tick(django_capture_on_commit_callbacks)
    texts = twilio.texts()
    assert {t["To"] for t in texts} == {"whatsapp:+14155550123"} and {t["From"] for t in texts} == {
        "whatsapp:+14155550111"
    }
    first = nines(timezone.now(), 1)[0]
    assert texts[0]["Body"].endswith("How big?")
    assert texts[1]["Body"].startswith(f"Hi there, here are our next open times:\n1) {when_label(first, NEW_YORK)}")
    confirmation, manage = texts[2]["Body"].split("\n")
    assert confirmation == f"You're booked for {when_label(first, NEW_YORK)}, there. See you then!"
    assert manage.startswith(f"To move or cancel it: {settings.CLARM_PUBLIC_URL}/l/")  # tracked, to the booking page
    assert Booking.objects.get(customer=customer).start_at == first
    assert [e.event for e in Event.objects.filter(source="agent").order_by("pk")] == [
        "lead_qualified",
        "booking_offered",
        "booking_taken",
    ]
    customer.refresh_from_db()
    assert customer.traits == {"size": "Studio", "ready_to_book": True} and customer.rung == 4
    [start] = ScheduledAction.objects.filter(agent="qualify", trigger="qualify")
    assert start.payload["channel"] == "whatsapp"  # (and the message that started it)


def test_dialogs_and_bookings_are_listed_in_the_admin(movers, client, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="qualify", enabled=True)
    chat(movers.workspace, "Hi")
    tick(django_capture_on_commit_callbacks)
    dialog = AgentDialog.objects.get()
    someone = person(movers.workspace, email="sam@example.com")
    now = timezone.now()
    row = Booking.objects.create(workspace=movers.workspace, customer=someone, start_at=now, end_at=now, source="x")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for path in (
        "/admin/agents/agentdialog/",
        f"/admin/agents/agentdialog/{dialog.pk}/change/",
        "/admin/agents/booking/",
        f"/admin/agents/booking/{row.pk}/change/",
    ):
        assert client.get(path).status_code == 200, path


def test_a_person_offered_times_who_never_answers_is_a_drop_off_at_that_step(
    movers, django_capture_on_commit_callbacks
):
    agent_setting_save(workspace=movers.workspace, agent="booking_assistant", enabled=True)
    first = chat(movers.workspace, "Hello")
    agent_action_log(
        workspace=movers.workspace,
        agent="my-bot",
        action="lead_qualified",
        customer=first.session.customer,
        properties={"channel": "web"},
    )
    tick(django_capture_on_commit_callbacks)
    later = timezone.now() + datetime.timedelta(hours=49)
    assert drop_offs(workspace=movers.workspace, now=later) == [DropOff("booking_offered", 1)]


def test_two_people_choosing_the_same_time_one_books_and_the_other_gets_new_times(
    movers, django_capture_on_commit_callbacks
):
    workspace = movers.workspace
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-10:00"}
    )
    chats = [chat(workspace, "Hello", visitor=f"visitor-{name}") for name in ("dana", "sam")]
    for received in chats:
        agent_action_log(
            workspace=workspace,
            agent="my-bot",
            action="lead_qualified",
            customer=received.session.customer,
            properties={"channel": "web"},
        )
    tick(django_capture_on_commit_callbacks)
    days = nines(timezone.now(), 4)
    assert [ours(c.session.customer)[-1] for c in chats] == [offer_text(days[:3])] * 2
    for received in chats:
        chat(workspace, "1", session=received.session)
    tick(django_capture_on_commit_callbacks)
    dana, sam = (c.session.customer for c in chats)
    assert Booking.objects.get().customer_id == dana.pk
    assert ours(sam)[-1] == "Sorry, that time is no longer open.\n" + offer_text(days[1:4])
    assert Event.objects.filter(event="booking_offered", customer=sam).count() == 2
    chat(workspace, "1", session=chats[1].session)
    tick(django_capture_on_commit_callbacks)
    assert Booking.objects.get(customer=sam).start_at == days[1]


def test_an_answer_after_seven_days_is_not_read_as_the_choice(movers, django_capture_on_commit_callbacks):
    workspace = movers.workspace
    agent_setting_save(workspace=workspace, agent="booking_assistant", enabled=True)
    first = chat(workspace, "Hello")
    agent_action_log(
        workspace=workspace,
        agent="my-bot",
        action="lead_qualified",
        customer=first.session.customer,
        properties={"channel": "web"},
    )
    tick(django_capture_on_commit_callbacks)
    chat(workspace, "2", session=first.session)
    with django_capture_on_commit_callbacks(execute=True):
        agents_tick(now=(timezone.now() + datetime.timedelta(days=8)).isoformat())
    dialog = AgentDialog.objects.get()
    assert (dialog.status, dialog.detail) == (DialogStatus.CANCELLED, "No answer within 7 days")
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(400, "new times"), (401, "a person")],
)
def test_a_booking_calendly_refuses_offers_new_times_or_goes_to_a_person(
    movers, settings, status, outcome, django_capture_on_commit_callbacks
):
    workspace = movers.workspace
    day = nines(timezone.now(), 4)
    calendly = calendly_booking(movers, settings, day)
    try:
        customer = qualified_by_email(workspace)
        tick(django_capture_on_commit_callbacks)
        calendly.post_status = status
        inbound(customer, "1", channel="email")
        tick(django_capture_on_commit_callbacks)
        assert [r["method"] for r in calendly.requests] == ["GET", "POST"] + (["GET"] if outcome == "new times" else [])
        assert not Booking.objects.exists() and not Event.objects.filter(event="booking_taken").exists()
        step = ScheduledAction.objects.filter(agent="booking_assistant").latest("pk")
        if outcome == "new times":
            assert mail.outbox[-1].body.startswith("Sorry, that time is no longer open.")
            assert AgentDialog.objects.get().status == DialogStatus.OPEN
        else:
            assert step.status == "failed" and "Calendly refused the booking (401)" in step.detail
            assert Conversation.objects.get(customer=customer).needs_human
            assert AgentDialog.objects.get().status == DialogStatus.CANCELLED
            # The person got the offer only (not told about the failure); the team is mailed.
            assert [m.to for m in mail.outbox] == [["dana@example.com"], [movers.owner.email]]
    finally:
        calendly.stop()


def test_a_person_with_a_booking_coming_up_is_not_offered_times(movers, django_capture_on_commit_callbacks):
    workspace = movers.workspace
    agent_setting_save(workspace=workspace, agent="booking_assistant", enabled=True)
    first = chat(workspace, "Hello")
    customer = first.session.customer
    start = timezone.now() + datetime.timedelta(days=2)
    Booking.objects.create(workspace=workspace, customer=customer, start_at=start, end_at=start, source="availability")
    lead = {"channel": "web"}
    agent_action_log(workspace=workspace, agent="my-bot", action="lead_qualified", customer=customer, properties=lead)
    tick(django_capture_on_commit_callbacks)
    step = ScheduledAction.objects.get(agent="booking_assistant")
    assert (step.status, step.detail) == ("cancelled", "The person has a booking coming up")
    assert ours(customer) == [] and not Event.objects.filter(event="booking_offered").exists()


def test_a_cancelled_booking_frees_its_time_and_cancels_its_reminder(movers, django_capture_on_commit_callbacks):
    workspace = movers.workspace
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-10:00"}
    )
    agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)
    customer = qualified_by_email(workspace)
    tick(django_capture_on_commit_callbacks)
    inbound(customer, "3", channel="email")  # two days ahead at least: its reminder is still to come
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)  # the Follow-up plans from booking_taken
    mine = Booking.objects.get()
    reminder = ScheduledAction.objects.get(agent="follow_up")
    cancel = {"booking_id": f"clarm-booking:{mine.pk}"}
    # Through the public write key (anyone's browser): the guessable id cancels nothing.
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(
                event="booking_cancelled",
                source="webhook",
                email="dana@example.com",
                occurred_at=timezone.now(),
                properties=cancel,
            )
        ],
    )
    tick(django_capture_on_commit_callbacks)
    mine.refresh_from_db()
    reminder.refresh_from_db()
    assert mine.status == "booked" and reminder.status == "pending"
    # From a verified source (here the generic signed webhook's door): cancelled.
    event_record(
        workspace=workspace,
        provider="generic",
        event="booking_cancelled",
        source="webhook",
        message_id="generic:cancel-1",
        properties=cancel,
        email="dana@example.com",
    )
    tick(django_capture_on_commit_callbacks)
    mine.refresh_from_db()
    reminder.refresh_from_db()
    assert mine.status == "cancelled" and reminder.status == "cancelled"
    # The time is open again for the next person.
    other = chat(workspace, "Hi")
    agent_action_log(
        workspace=workspace, agent="my-bot", action="lead_qualified", customer=other.session.customer, properties={}
    )
    tick(django_capture_on_commit_callbacks)
    assert ours(other.session.customer)[-1] == offer_text(nines(timezone.now(), 3))
