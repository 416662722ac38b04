"""The Qualify agent: the workspace's questions, one at a time in the person's own thread (web chat,
email, SMS), the answers stored as traits, then `lead_qualified` and ready to book; once per person,
ended by STOP; another workspace can neither change its settings nor advance its questions."""

import contextlib
import datetime
import threading
import uuid

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import runner
from agents.models import (
    ActionStatus,
    AgentDialog,
    AgentSetting,
    DialogStatus,
    Direction,
    Message,
    ScheduledAction,
)
from agents.runner import workspace_scan
from agents.services import AgentInputError, agent_setting_save
from agents.tasks import agents_tick
from agents.webchat import widget_message_receive
from identity.models import Customer
from integrations.optout import sms_opt_out
from integrations.services import connection_save
from tests.agents.helpers import inbound, person
from tests.factories import make_workspace
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest

QUESTIONS = "move_size: How many bedrooms are you moving?\nmove_date: What date would you like?\nzip: Your ZIP code?"


def tick(capture) -> dict:
    with capture(execute=True):
        return agents_tick()


def qualify_on(workspace, **config) -> None:
    agent_setting_save(workspace=workspace, agent="qualify", enabled=True, config={"questions": QUESTIONS, **config})


def chat(workspace, text: str, session=None, visitor: str = "visitor-dana-01"):
    """A visitor's message from the chat widget (the real endpoint's write)."""
    return widget_message_receive(
        workspace=workspace,
        session=session,
        visitor_id=visitor,
        session_id=None,
        message_id=uuid.uuid4().hex,
        body=text,
    )


def texter(workspace, *, phone: str, visitor: str = "dev-1") -> Customer:
    """A person who filled a form with a phone only."""
    events_ingest(
        workspace=workspace,
        events=[
            EventInput(event="form_submit", source="web", visitor_id=visitor, phone=phone, occurred_at=timezone.now())
        ],
    )
    return Customer.objects.get(workspace=workspace, phone=phone, status="live")


def ours(customer_ids, agent: str = "qualify") -> list[str]:
    return list(
        Message.objects.filter(customer_id__in=customer_ids, direction=Direction.OUT, agent=agent)
        .order_by("pk")
        .values_list("body", flat=True)
    )


def test_qualify_in_the_web_chat_asks_each_question_once_and_marks_ready_to_book(
    tenant, django_capture_on_commit_callbacks
):
    qualify_on(tenant.workspace)
    first = chat(tenant.workspace, "Hi, do you move pianos?")
    customer = first.session.customer
    tick(django_capture_on_commit_callbacks)
    assert ours([customer.pk]) == [
        "Hi there, thanks for reaching out to Acme Movers! A few quick questions so we can help.\n"
        "How many bedrooms are you moving?"
    ]
    for answer, question in (("3 bedrooms and a piano", "What date would you like?"), ("June 14", "Your ZIP code?")):
        chat(tenant.workspace, answer, session=first.session)
        tick(django_capture_on_commit_callbacks)
        assert ours([customer.pk])[-1] == question
        tick(django_capture_on_commit_callbacks)  # a second tick reads nothing twice
        assert ours([customer.pk]).count(question) == 1
    chat(tenant.workspace, "93001", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert ours([customer.pk])[-1] == "Thanks there, that's all we need. We'll be in touch shortly."
    customer.refresh_from_db()
    assert customer.traits == {
        "move_size": "3 bedrooms and a piano",
        "move_date": "June 14",
        "zip": "93001",
        "ready_to_book": True,
    }
    [event] = Event.objects.filter(workspace=tenant.workspace, event="lead_qualified")
    assert event.source == "agent" and event.customer_id == customer.pk
    assert event.properties["agent"] == "qualify" and event.properties["channel"] == "web"
    assert event.properties["answers"]["zip"] == "93001"
    assert AgentDialog.objects.get().status == DialogStatus.DONE
    # Once per person: a later message asks nothing again.
    chat(tenant.workspace, "Also, do you have boxes?", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert len(ours([customer.pk])) == 4
    assert ScheduledAction.objects.filter(agent="qualify", trigger="qualify").count() == 1
    assert Event.objects.filter(event="lead_qualified").count() == 1


def test_two_messages_in_the_same_minute_are_one_answer(tenant, django_capture_on_commit_callbacks):
    qualify_on(tenant.workspace)
    first = chat(tenant.workspace, "Hello")
    tick(django_capture_on_commit_callbacks)
    chat(tenant.workspace, "Three bedrooms", session=first.session)
    chat(tenant.workspace, "plus a garage", session=first.session)
    tick(django_capture_on_commit_callbacks)
    dialog = AgentDialog.objects.get()
    assert dialog.state["answers"] == {"move_size": "Three bedrooms plus a garage"}
    assert ours([first.session.customer_id])[-1] == "What date would you like?"
    steps = ScheduledAction.objects.filter(agent="qualify").exclude(trigger="qualify").order_by("pk")
    assert [s.detail for s in steps] == [
        "Answer 1 read; asked question 2 by web",
        "Read with an earlier message",
    ]


def test_qualify_by_email_after_a_form_reads_the_reply_without_its_quote(tenant, django_capture_on_commit_callbacks):
    qualify_on(tenant.workspace, questions="move_size: How many bedrooms?")
    customer = person(tenant.workspace, email="dana@example.com", phone="")
    tick(django_capture_on_commit_callbacks)
    [asked] = mail.outbox
    assert asked.to == ["dana@example.com"] and "How many bedrooms?" in asked.body
    inbound(customer, "Two, thanks!\n\nOn Mon, Acme Movers wrote:\n> How many bedrooms?", channel="email")
    tick(django_capture_on_commit_callbacks)
    customer.refresh_from_db()
    assert customer.traits["move_size"] == "Two, thanks!" and customer.traits["ready_to_book"] is True
    assert Event.objects.get(event="lead_qualified").properties["channel"] == "email"


def test_stop_ends_the_questions_over_sms(tenant, twilio, django_capture_on_commit_callbacks):
    connection_save(
        workspace=tenant.workspace,
        provider="twilio",
        values={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "sms_from": "+14155550100"},
        actor=tenant.owner,
    )
    qualify_on(tenant.workspace)
    customer = texter(tenant.workspace, phone="+14155550123")
    tick(django_capture_on_commit_callbacks)
    # A form with a phone only is not texted (anyone could type any number into it) ...
    assert twilio.texts() == [] and not ScheduledAction.objects.exists()
    # ... the person who texts first is asked by SMS.
    inbound(customer, "Hi, a quote for a move please")
    tick(django_capture_on_commit_callbacks)
    [text] = twilio.texts()
    assert text["To"] == "+14155550123" and text["Body"].endswith("How many bedrooms are you moving?")
    sms_opt_out(workspace=tenant.workspace, customer=customer)  # what the Twilio webhook does with STOP
    inbound(customer, "STOP")
    tick(django_capture_on_commit_callbacks)
    assert len(twilio.texts()) == 1
    dialog = AgentDialog.objects.get()
    assert dialog.status == DialogStatus.CANCELLED and dialog.detail == "The person opted out"
    assert not Event.objects.filter(event="lead_qualified").exists()
    # A person who opted out before the first question is not asked at all.
    other = texter(tenant.workspace, phone="+14155550188", visitor="dev-2")
    inbound(other, "hello")
    sms_opt_out(workspace=tenant.workspace, customer=other)
    tick(django_capture_on_commit_callbacks)
    assert len(twilio.texts()) == 1
    assert ScheduledAction.objects.get(customer=other).status == ActionStatus.CANCELLED


def test_asking_for_a_person_ends_the_questions(tenant, django_capture_on_commit_callbacks):
    qualify_on(tenant.workspace)
    first = chat(tenant.workspace, "Hi")
    tick(django_capture_on_commit_callbacks)
    chat(tenant.workspace, "Can I talk to someone please", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert AgentDialog.objects.get().status == DialogStatus.CANCELLED
    assert len(ours([first.session.customer_id])) == 1


def test_questions_are_validated_naming_the_line(tenant):
    with pytest.raises(AgentInputError, match="questions, line 2: write “trait: question”"):
        qualify_on(tenant.workspace, questions="size: How big?\nno colon here")
    with pytest.raises(AgentInputError, match="at most 3 questions"):
        qualify_on(tenant.workspace, questions="a: 1?\nb: 2?\nc: 3?\nd: 4?")
    with pytest.raises(AgentInputError, match="questions, line 1: “email” is reserved"):
        qualify_on(tenant.workspace, questions="email: Your email?")
    with pytest.raises(AgentInputError, match="the trait “a” is used twice"):
        qualify_on(tenant.workspace, questions="a: 1?\na: 2?")
    assert not AgentSetting.objects.exists()


def test_settings_page_saves_the_questions(tenant, client):
    client.force_login(tenant.owner)
    url = f"/w/{tenant.workspace.slug}/settings/agents/"
    page = client.get(url).content.decode()
    assert 'data-agent="qualify"' in page and 'data-agent="booking_assistant"' in page
    for label in ("Questions", "Availability", "Slot length (minutes)", "Calendly event type URI", "Hours before"):
        assert f">{label}</label>" in page, label
    form = {
        "agent": "qualify",
        "enabled": "on",
        "questions": QUESTIONS,
        "template": "Hi {first_name}!",
        "thanks": "Thanks!",
    }
    response = client.post(url, form, follow=True)
    assert "Qualify agent saved." in response.content.decode()
    saved = AgentSetting.objects.get(agent="qualify")
    assert saved.enabled and saved.config == {
        "questions": QUESTIONS,
        "template": "Hi {first_name}!",
        "thanks": "Thanks!",
    }


def test_another_workspace_can_neither_change_qualify_nor_advance_its_questions(
    tenant, other_tenant, client, django_capture_on_commit_callbacks
):
    qualify_on(tenant.workspace)
    before = AgentSetting.objects.get(workspace=tenant.workspace).config
    client.force_login(other_tenant.owner)
    url = f"/w/{tenant.workspace.slug}/settings/agents/"
    assert client.post(url, {"agent": "qualify", "questions": "x: hacked?"}).status_code == 404
    assert AgentSetting.objects.get(workspace=tenant.workspace).config == before
    assert AgentSetting.objects.get(workspace=tenant.workspace).enabled
    assert not AgentSetting.objects.filter(workspace=other_tenant.workspace).exists()
    # The same visitor id and the same words in the other workspace: its own customer, nothing asked.
    first = chat(tenant.workspace, "Hi")
    tick(django_capture_on_commit_callbacks)
    dialog = AgentDialog.objects.get()
    chat(other_tenant.workspace, "3 bedrooms")
    tick(django_capture_on_commit_callbacks)
    dialog.refresh_from_db()
    assert (dialog.step, dialog.status, dialog.state["answers"]) == (0, DialogStatus.OPEN, {})
    assert not Message.objects.filter(workspace=other_tenant.workspace, direction=Direction.OUT).exists()
    assert AgentDialog.objects.count() == 1
    other_customer = Customer.objects.get(workspace=other_tenant.workspace, status="live")
    assert other_customer.pk != first.session.customer_id and other_customer.traits == {}


@pytest.mark.postgres_only(reason="two ticks must really run at once: SQLite has no row locks (SKIP LOCKED)")
@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_the_same_moment_ask_each_next_question_once(monkeypatch):
    workspace, _, _, _ = make_workspace("Hudson Movers")
    qualify_on(workspace)
    sessions = [chat(workspace, "Hi", visitor=f"visitor-{i:04d}").session for i in range(10)]
    agents_tick()
    for session in sessions:  # two messages each: two steps that both workers may take at once
        chat(workspace, "2 bedrooms", session=session)
        chat(workspace, "and a piano", session=session)
    slow_do = runner._do
    # Each tick's first step waits for the other's: both hold a step of the same person (the first
    # person's two messages), so only the dialog's lock keeps the second from asking again.
    both = threading.Barrier(2, timeout=5)
    started: set[int] = set()

    def held(row, config, now):
        if threading.get_ident() not in started:
            started.add(threading.get_ident())
            with contextlib.suppress(threading.BrokenBarrierError):
                both.wait()
        return slow_do(row, config, now)

    monkeypatch.setattr(runner, "_do", held)

    def run() -> None:
        try:
            agents_tick()
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in sessions:
        assert ours([session.customer_id]).count("What date would you like?") == 1
    assert set(AgentDialog.objects.values_list("step", flat=True)) == {1}
    assert all(d.state["answers"] == {"move_size": "2 bedrooms and a piano"} for d in AgentDialog.objects.all())
    assert ScheduledAction.objects.filter(agent="qualify", trigger="qualify").count() == 10


def test_the_thread_shows_the_answers_and_ready_to_book(tenant, client, django_capture_on_commit_callbacks):
    qualify_on(tenant.workspace, questions="move_size: How many bedrooms?\nzip: Your ZIP code?")
    first = chat(tenant.workspace, "Hi")
    tick(django_capture_on_commit_callbacks)
    chat(tenant.workspace, "Two <b>bedrooms</b>", session=first.session)
    tick(django_capture_on_commit_callbacks)
    client.force_login(tenant.owner)
    url = f"/w/{tenant.workspace.slug}/inbox/{first.session.customer_id}/"
    page = client.get(url).content.decode()
    assert 'data-qualified="open"' in page and "Qualify: Asked question 2 of 2" in page
    assert "<dt>How many bedrooms?</dt><dd>Two &lt;b&gt;bedrooms&lt;/b&gt;</dd>" in page
    chat(tenant.workspace, "93001", session=first.session)
    tick(django_capture_on_commit_callbacks)
    page = client.get(url).content.decode()
    assert 'data-qualified="done"' in page and "Ready to book" in page and "<dd>93001</dd>" in page


def test_a_person_who_opted_out_of_analytics_is_qualified_without_timeline_events(
    tenant, django_capture_on_commit_callbacks
):
    qualify_on(tenant.workspace, questions="move_size: How many bedrooms?")
    customer = person(tenant.workspace, email="dana@example.com", phone="")
    Customer.objects.filter(pk=customer.pk).update(allow_analytics=False)
    tick(django_capture_on_commit_callbacks)
    inbound(customer, "Two", channel="email")
    tick(django_capture_on_commit_callbacks)
    dialog = AgentDialog.objects.get()
    assert dialog.status == DialogStatus.DONE and "opted out of analytics" in dialog.detail
    assert dialog.state["answers"] == {"move_size": "Two"}
    assert not Event.objects.filter(event="lead_qualified").exists()
    assert "that's all we need" in mail.outbox[-1].body


def test_reading_answers_costs_the_same_few_queries_for_10_or_40_people(tenant):
    """The scan re-reads 5 minutes of overlap every minute: once Qualify has started for the people
    who wrote, reading their messages again is a fixed number of queries, not a few per message."""
    qualify_on(tenant.workspace)
    counts = []
    for start, n in ((0, 10), (10, 40)):
        people = [
            person(tenant.workspace, email=f"p{i}@example.com", phone=f"+1415555{1000 + i}", visitor=f"v{i}")
            for i in range(start, start + n)
        ]
        workspace_scan(workspace=tenant.workspace, now=timezone.now())  # Qualify planned from the forms
        for someone in people:
            inbound(someone, "2 bedrooms")
        with CaptureQueriesContext(db_connection) as queries:
            workspace_scan(workspace=tenant.workspace, now=timezone.now())
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 12, counts


def test_someone_who_wrote_before_qualify_was_on_is_not_asked(tenant, django_capture_on_commit_callbacks):
    first = chat(tenant.workspace, "Is my invoice ready?")
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    Message.objects.filter(pk=first.message.pk).update(created_at=an_hour_ago)
    qualify_on(tenant.workspace)
    chat(tenant.workspace, "Any news?", session=first.session)
    tick(django_capture_on_commit_callbacks)
    assert not ScheduledAction.objects.exists() and ours([first.session.customer_id]) == []
    # A new person's first message is.
    chat(tenant.workspace, "Hi, do you clean carpets?", visitor="visitor-new-02")
    tick(django_capture_on_commit_callbacks)
    assert ScheduledAction.objects.get().trigger == "qualify"
