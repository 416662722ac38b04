"""The built-in agents: Follow-up (reminder before a booking), Review ask (the day after) and Handoff,
planned once per (agent, customer, trigger), sent once at the workspace's wall-clock time across DST,
cancelled by a cancelled booking or an opt-out. Twilio is a local server checking the real requests."""

import datetime
import threading
import time
import zoneinfo

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.utils import timezone

from agents import runner
from agents.models import ActionStatus, AgentSetting, Conversation, Message, ScheduledAction
from agents.runner import action_run
from agents.services import AgentInputError, agent_setting_save
from agents.tasks import agents_tick
from identity.models import Customer
from integrations.optout import sms_opt_out
from integrations.services import connection_save
from tests.agents.helpers import booking, inbound, person
from tests.factories import make_workspace
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


@pytest.fixture
def movers(db):
    workspace, owner, _, secret = make_workspace("Hudson Movers", timezone_name="America/New_York")
    return type("Tenant", (), {"workspace": workspace, "owner": owner, "secret_key": secret})


@pytest.fixture
def movers_twilio(movers):
    return connection_save(
        workspace=movers.workspace,
        provider="twilio",
        values={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "sms_from": "+14155550100"},
        actor=movers.owner,
    )


def tick(at: datetime.datetime, capture) -> dict:
    with capture(execute=True):
        return agents_tick(now=at.isoformat())


def plan(capture) -> dict:
    """The tick that reads the new bookings (at the real time they were received)."""
    with capture(execute=True):
        return agents_tick()


def next_dst_change(*, spring: bool) -> datetime.date:
    """The next day (two days from now at the earliest, so the reminder the day before is still
    ahead) on which New York springs forward (or falls back). The bookings are planned at the real
    time, so fixed dates would stop being in the future."""
    day = timezone.now().astimezone(NEW_YORK).date() + datetime.timedelta(days=2)
    for _ in range(400):
        before = local(day.year, day.month, day.day, 0).utcoffset()
        after = local(day.year, day.month, day.day, 12).utcoffset()
        if before != after and (after > before) == spring:  # type: ignore[operator]
            return day
        day += datetime.timedelta(days=1)
    raise AssertionError("no DST change in New York within 400 days")


@pytest.mark.parametrize(
    ("spring", "hours_before"),
    [
        # Spring forward: 09:00 EDT on the day → 09:00 EST the day before, 23 h earlier (the night
        # in between loses an hour).
        (True, 23),
        # Fall back: 09:00 EST on the day → 09:00 EDT the day before, 25 h earlier.
        (False, 25),
    ],
)
def test_follow_up_reminder_leaves_at_the_workspaces_wall_clock_across_dst(
    movers, movers_twilio, twilio, django_capture_on_commit_callbacks, spring, hours_before
):
    day = next_dst_change(spring=spring)
    start = local(day.year, day.month, day.day, 9, 0)
    previous = day - datetime.timedelta(days=1)
    due_local = local(previous.year, previous.month, previous.day, 9, 0)
    due_utc = start.astimezone(datetime.UTC) - datetime.timedelta(hours=hours_before)
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=True)
    customer = person(movers.workspace, email="dana@example.com")
    customer.name = "Dana Whitfield"
    customer.save(update_fields=["name"])
    booking(movers.workspace, email="dana@example.com", start=start, uri="https://api.calendly.com/invitees/A1")
    assert plan(django_capture_on_commit_callbacks)["planned"] == 1
    [row] = ScheduledAction.objects.all()
    assert row.due_at == due_utc == due_local
    assert row.agent == "follow_up" and row.trigger == "booking:https://api.calendly.com/invitees/A1"
    # One minute early: nothing leaves.
    tick(due_local - datetime.timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert twilio.requests == []
    # The minute it is due, the reminder leaves, once.
    done = tick(due_local + datetime.timedelta(seconds=30), django_capture_on_commit_callbacks)
    assert done["done"] == 1
    [text] = twilio.texts()
    assert text["To"] == "+14155550123" and text["From"] == "+14155550100"
    when = start.strftime("%a %d %b at %H:%M").replace(" 0", " ")
    assert text["Body"] == f"Hi Dana, a reminder from Hudson Movers: see you {when}. Reply here if anything changes."
    row.refresh_from_db()
    assert row.message is not None
    assert row.status == ActionStatus.DONE and row.message.status == "sent" and row.message.agent == "follow_up"
    reminder = Event.objects.get(event="reminder_sent")
    assert reminder.source == "agent" and reminder.customer_id == customer.pk
    assert reminder.properties["agent"] == "follow_up" and reminder.properties["message"] == row.message_id
    assert Event.objects.filter(event="message_sent", customer=customer).count() == 1
    # Later ticks, a re-read of the same booking and a re-run of the action send nothing more.
    tick(due_local + datetime.timedelta(minutes=5), django_capture_on_commit_callbacks)
    booking(movers.workspace, email="dana@example.com", start=start, uri="https://api.calendly.com/invitees/A1")
    plan(django_capture_on_commit_callbacks)
    assert action_run(action_id=row.pk, now=due_local + datetime.timedelta(hours=1)) == "skipped"
    assert len(twilio.requests) == 1 and ScheduledAction.objects.count() == 1


def test_a_cancelled_booking_cancels_its_reminder(movers, movers_twilio, twilio, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=True)
    person(movers.workspace, email="dana@example.com")
    start = local(2027, 5, 4, 10, 0)
    uri = "https://api.calendly.com/invitees/B2"
    booking(movers.workspace, email="dana@example.com", start=start, uri=uri)
    plan(django_capture_on_commit_callbacks)
    booking(movers.workspace, email="dana@example.com", start=start, uri=uri, cancelled=True)
    assert plan(django_capture_on_commit_callbacks)["cancelled"] == 1
    tick(start, django_capture_on_commit_callbacks)
    assert twilio.requests == []
    row = ScheduledAction.objects.get()
    assert row.status == ActionStatus.CANCELLED and row.detail == "Booking cancelled"
    assert not Event.objects.filter(event="reminder_sent").exists()


def test_a_person_who_opted_out_gets_no_reminder(movers, movers_twilio, twilio, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=True)
    customer = person(movers.workspace, email="dana@example.com")
    start = local(2027, 5, 4, 10, 0)
    booking(movers.workspace, email="dana@example.com", start=start, uri="https://api.calendly.com/invitees/C3")
    plan(django_capture_on_commit_callbacks)
    sms_opt_out(workspace=movers.workspace, customer=customer)  # they texted STOP
    tick(start, django_capture_on_commit_callbacks)
    assert twilio.requests == [] and not Message.objects.filter(direction="out").exists()
    row = ScheduledAction.objects.get()
    assert row.status == ActionStatus.CANCELLED and row.detail == "The person opted out"


def test_switched_off_agents_plan_and_send_nothing(movers, movers_twilio, twilio, django_capture_on_commit_callbacks):
    person(movers.workspace, email="dana@example.com")
    start = local(2027, 5, 4, 10, 0)
    booking(movers.workspace, email="dana@example.com", start=start, uri="https://api.calendly.com/invitees/D4")
    plan(django_capture_on_commit_callbacks)
    assert not ScheduledAction.objects.exists()
    # Switched on, planned, then switched off before it is due: cancelled, not sent.
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=True)
    booking(movers.workspace, email="dana@example.com", start=start, uri="https://api.calendly.com/invitees/D5")
    plan(django_capture_on_commit_callbacks)
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=False)
    tick(start, django_capture_on_commit_callbacks)
    assert twilio.requests == []
    assert set(ScheduledAction.objects.values_list("status", flat=True)) == {ActionStatus.CANCELLED}
    assert set(ScheduledAction.objects.values_list("detail", flat=True)) == {"The agent was switched off"}


def test_review_ask_sends_one_sms_with_the_link_the_day_after(
    movers, movers_twilio, twilio, client, django_capture_on_commit_callbacks
):
    agent_setting_save(
        workspace=movers.workspace,
        agent="review_ask",
        enabled=True,
        config={"review_url": "https://g.page/r/hudson-movers/review", "send_hour": 11},
    )
    person(movers.workspace, email="dana@example.com")
    booking(
        movers.workspace,
        email="dana@example.com",
        start=local(2027, 6, 1, 8, 0),
        uri="https://api.calendly.com/invitees/E5",
    )
    plan(django_capture_on_commit_callbacks)
    row = ScheduledAction.objects.get()
    assert row.due_at == local(2027, 6, 2, 11, 0)
    tick(local(2027, 6, 2, 11, 0, 20), django_capture_on_commit_callbacks)
    tick(local(2027, 6, 3, 11, 0), django_capture_on_commit_callbacks)
    [text] = twilio.texts()
    # The review link goes out as a tracked link that leads to the review page.
    code = text["Body"].rsplit("/l/", 1)[1]
    assert text["Body"].startswith("Thanks for choosing Hudson Movers, there! Would you leave us a quick review?")
    assert client.get(f"/l/{code}")["Location"] == "https://g.page/r/hudson-movers/review"
    assert Event.objects.get(event="review_requested").properties["agent"] == "review_ask"


def test_review_ask_without_a_link_fails_visibly(movers, movers_twilio, twilio, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="review_ask", enabled=True)
    person(movers.workspace, email="dana@example.com")
    booking(
        movers.workspace,
        email="dana@example.com",
        start=local(2027, 6, 1, 8, 0),
        uri="https://api.calendly.com/invitees/F6",
    )
    plan(django_capture_on_commit_callbacks)
    tick(local(2027, 6, 2, 12, 0), django_capture_on_commit_callbacks)
    row = ScheduledAction.objects.get()
    assert row.status == ActionStatus.FAILED and "review link" in row.detail
    assert twilio.requests == []


def test_handoff_puts_a_request_for_a_person_first_in_the_inbox(movers, client, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="handoff", enabled=True)
    asking = person(movers.workspace, email="dana@example.com")
    calm = person(movers.workspace, email="sam@example.com", phone="+14155550199", visitor="v2")
    inbound(asking, "This is useless, can I talk to a real person please?")
    inbound(calm, "Do you move pianos?")
    assert plan(django_capture_on_commit_callbacks)["planned"] == 1
    assert Conversation.objects.get(customer=asking).needs_human
    assert not Conversation.objects.get(customer=calm).needs_human
    event = Event.objects.get(event="handoff_requested")
    assert event.source == "agent" and event.customer_id == asking.pk
    # The owner is mailed a link to the thread, once.
    [notice] = mail.outbox
    assert notice.to == [movers.owner.email] and notice.subject == "[Clarm] Needs human eyes: dana@example.com"
    assert f"/w/{movers.workspace.slug}/inbox/{asking.pk}/" in notice.body and "asked for a person" in notice.body
    plan(django_capture_on_commit_callbacks)  # the same message read again: nothing new
    inbound(asking, "Hello?? I need a real person")  # asks again while still flagged: no second mail
    plan(django_capture_on_commit_callbacks)
    assert Event.objects.filter(event="handoff_requested").count() == 2
    assert len(mail.outbox) == 1
    client.force_login(movers.owner)
    html = client.get(f"/w/{movers.workspace.slug}/inbox/").content.decode()
    assert html.index(f'data-customer="{asking.pk}"') < html.index(f'data-customer="{calm.pk}"')


def test_agent_settings_are_validated_naming_the_problem(movers):
    for agent, config, names in (
        ("nope", {}, "Unknown agent"),
        ("follow_up", {"hours_before": 0}, "hours_before"),
        ("follow_up", {"hours_before": "24"}, "hours_before"),
        ("follow_up", {"template": "  "}, "template"),
        ("review_ask", {"send_hour": 24}, "send_hour"),
    ):
        with pytest.raises(AgentInputError, match=names):
            agent_setting_save(workspace=movers.workspace, agent=agent, enabled=True, config=config)
    assert not AgentSetting.objects.exists()
    setting = agent_setting_save(
        workspace=movers.workspace, agent="follow_up", enabled=True, config={"hours_before": 2}
    )
    assert setting.config == {"hours_before": 2}


def test_a_scan_watermark_ahead_of_the_clock_does_not_hide_new_bookings(
    movers, movers_twilio, twilio, django_capture_on_commit_callbacks
):
    """A run with a later time (or a clock set back afterwards) must not make the next runs skip what arrives."""
    agent_setting_save(workspace=movers.workspace, agent="follow_up", enabled=True)
    person(movers.workspace, email="dana@example.com")
    tick(local(2027, 5, 1, 9, 0), django_capture_on_commit_callbacks)
    booking(movers.workspace, email="dana@example.com", start=local(2027, 5, 4, 10, 0), uri="https://x.example/G7")
    assert plan(django_capture_on_commit_callbacks)["planned"] == 1


@pytest.mark.postgres_only(reason="two ticks must really run at once: SQLite has no row locks (SKIP LOCKED)")
@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_the_same_moment_send_each_reminder_once(twilio, monkeypatch):
    workspace, owner, _, _ = make_workspace("Hudson Movers", timezone_name="America/New_York")
    connection_save(
        workspace=workspace,
        provider="twilio",
        values={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "sms_from": "+14155550100"},
        actor=owner,
    )
    agent_setting_save(workspace=workspace, agent="follow_up", enabled=True)
    start = local(2027, 5, 4, 10, 0)
    for i in range(20):
        email = f"p{i}@example.com"
        person(workspace, email=email, phone=f"+1415555{1000 + i}", visitor=f"v{i}")
        booking(workspace, email=email, start=start, uri=f"https://api.calendly.com/invitees/H{i}")
    agents_tick()
    assert ScheduledAction.objects.count() == 20
    # Hold each action's transaction a little, so both ticks reach the same rows at the same time.
    slow_do = runner._do

    def held(row, config, now):
        time.sleep(0.1)
        return slow_do(row, config, now)

    monkeypatch.setattr(runner, "_do", held)
    done: list[dict] = []

    def run() -> None:
        try:
            done.append(agents_tick(now=local(2027, 5, 3, 10, 0, 5).isoformat()))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [text["To"] for text in twilio.texts()]
    assert len(numbers) == len(set(numbers)) == 20
    assert sum(result["done"] for result in done) == 20
    assert Event.objects.filter(event="reminder_sent").count() == 20
    assert set(ScheduledAction.objects.values_list("status", flat=True)) == {ActionStatus.DONE}


def test_onboarding_welcomes_once_after_the_first_payment(movers, django_capture_on_commit_callbacks):
    agent_setting_save(workspace=movers.workspace, agent="onboarding", enabled=True, config={"hours_after": 2})
    customer = person(movers.workspace, email="dana@example.com")
    Customer.objects.filter(pk=customer.pk).update(name="Dana Whitfield")

    def pay(payment_id: str) -> None:
        events_ingest(
            workspace=movers.workspace,
            events=[
                EventInput(
                    event="payment_succeeded",
                    source="webhook",
                    email="dana@example.com",
                    occurred_at=timezone.now(),
                    properties={"amount": 1800, "currency": "USD", "payment_id": payment_id},
                )
            ],
        )

    pay("pi_1")
    plan(django_capture_on_commit_callbacks)
    pay("pi_2")  # a second payment plans nothing more
    plan(django_capture_on_commit_callbacks)
    row = ScheduledAction.objects.get()
    assert row.agent == "onboarding" and row.trigger == "payment:first"
    tick(row.due_at - datetime.timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert mail.outbox == []
    tick(row.due_at, django_capture_on_commit_callbacks)
    tick(row.due_at + datetime.timedelta(hours=1), django_capture_on_commit_callbacks)
    [welcome] = mail.outbox
    assert welcome.to == ["dana@example.com"] and welcome.subject == "A message from Hudson Movers"
    assert "Welcome aboard, Dana! Thanks for choosing Hudson Movers." in welcome.body
    event = Event.objects.get(event="onboarding_sent")
    assert event.source == "agent" and event.properties["channel"] == "email"


def test_refund_handler_asks_for_the_reason_and_hands_off(
    movers, movers_twilio, twilio, client, django_capture_on_commit_callbacks
):
    agent_setting_save(workspace=movers.workspace, agent="refund_handler", enabled=True)
    customer = person(movers.workspace, email="dana@example.com")
    Customer.objects.filter(pk=customer.pk).update(name="Dana Whitfield")
    asking = inbound(customer, "The movers scratched my floor, this is awful. I want my money back.")
    inbound(
        person(movers.workspace, email="sam@example.com", phone="+14155550199", visitor="v2"), "What time tomorrow?"
    )
    assert plan(django_capture_on_commit_callbacks)["planned"] == 1
    [text] = twilio.texts()
    assert text["To"] == "+14155550123"
    assert text["Body"] == (
        "Sorry to hear that, Dana. Could you tell us what went wrong? "
        "Someone from Hudson Movers will look at your refund today."
    )
    assert Conversation.objects.get(customer=customer).needs_human
    event = Event.objects.get(event="refund_handled")
    assert event.source == "agent" and event.customer_id == customer.pk
    assert ScheduledAction.objects.get().trigger == f"message:{asking.pk}"
    plan(django_capture_on_commit_callbacks)
    assert len(twilio.requests) == 1
    # The thread shows the person's mood per message.
    client.force_login(movers.owner)
    html = client.get(f"/w/{movers.workspace.slug}/inbox/{customer.pk}/").content.decode()
    assert 'data-sentiment="negative"' in html and "Needs human eyes" in html
