"""The Inbox page and a person's thread: one thread across channels, waiting threads first, replies over
the person's last channel (through a local Twilio stand-in), tenant isolation."""

import datetime
import re
from urllib.parse import parse_qs

from django.utils import timezone

from agents.models import Conversation, Message, MessageStatus
from agents.selectors import drop_offs
from agents.services import agent_action_log
from identity.models import Customer
from tests.agents.helpers import inbound, person, thread_of, twilio_accepts
from tracking.models import Event


def rows_of(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-customer="(\d+)"', html)]


def test_inbox_lists_people_needing_eyes_then_waiting_then_answered(tenant, client):
    now = timezone.now()
    answered = person(tenant.workspace, email="a@example.com", phone="+14155550101", visitor="v1")
    waiting_old = person(tenant.workspace, email="b@example.com", phone="+14155550102", visitor="v2")
    waiting_new = person(tenant.workspace, email="c@example.com", phone="+14155550103", visitor="v3")
    flagged = person(tenant.workspace, email="d@example.com", phone="+14155550104", visitor="v4")
    inbound(answered, "thanks", at=now)
    Message.objects.create(
        workspace=tenant.workspace,
        customer=answered,
        conversation=Conversation.objects.get(customer=answered),
        channel="sms",
        direction="out",
        body="you're welcome",
        status=MessageStatus.SENT,
        sent_at=now,
    )
    inbound(waiting_old, "quote?", at=now - datetime.timedelta(hours=5))
    inbound(waiting_new, "are you free friday?", at=now - datetime.timedelta(hours=1))
    inbound(flagged, "let me talk to a human", at=now - datetime.timedelta(days=2))
    Conversation.objects.filter(customer=flagged).update(needs_human=True)
    client.force_login(tenant.owner)
    response = client.get(f"/w/{tenant.workspace.slug}/inbox/")
    assert response.status_code == 200
    html = response.content.decode()
    assert rows_of(html) == [flagged.pk, waiting_new.pk, waiting_old.pk, answered.pk]
    assert "3 waiting for a reply" in html and "Needs human eyes" in html


def test_thread_shows_every_channel_in_order_with_direction_status_and_gaps(tenant, client):
    customer = person(tenant.workspace)
    start = timezone.now() - datetime.timedelta(days=1)
    inbound(customer, "Do you move pianos?", channel="sms", at=start)
    inbound(customer, "Photos attached", channel="email", at=start + datetime.timedelta(hours=2, minutes=5))
    whatsapp = thread_of(inbound(customer, "hi", channel="whatsapp", at=start + datetime.timedelta(hours=3)))
    Message.objects.create(
        workspace=tenant.workspace,
        customer=customer,
        conversation=whatsapp,
        channel="whatsapp",
        direction="out",
        body="Yes, $300 extra",
        status=MessageStatus.DELIVERED,
        sent_at=start + datetime.timedelta(hours=3, minutes=10),
        agent="follow_up",
    )
    client.force_login(tenant.owner)
    html = client.get(f"/w/{tenant.workspace.slug}/inbox/{customer.pk}/").content.decode()
    items = re.findall(r'data-direction="(\w+)" data-channel="(\w+)" data-status="(\w+)"', html)
    assert items == [
        ("in", "sms", "received"),
        ("in", "email", "received"),
        ("in", "whatsapp", "received"),
        ("out", "whatsapp", "delivered"),
    ]
    assert html.index("Do you move pianos?") < html.index("Photos attached") < html.index("Yes, $300 extra")
    assert "2h 5m later" in html and "55m later" in html and "10m later" in html
    assert "follow_up agent" in html and "Delivered" in html
    # The reply defaults to the channel of the last message (WhatsApp).
    assert re.search(r'<option value="whatsapp" selected>', html)


def test_owner_reply_goes_over_the_last_channel_lands_on_the_timeline_and_clears_the_flag(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    inbound(customer, "quote please", channel="email", at=timezone.now() - datetime.timedelta(hours=2))
    inbound(customer, "can I speak to a person?", channel="whatsapp")
    Conversation.objects.filter(customer=customer).update(needs_human=True)
    client.force_login(tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/w/{tenant.workspace.slug}/inbox/{customer.pk}/", {"channel": "whatsapp", "body": "Hi, Sam here"}
        )
    assert response.status_code == 302
    [request] = provider_api.requests
    form = parse_qs(request["body"])
    assert form["To"] == ["whatsapp:+14155550123"] and form["Body"] == ["Hi, Sam here"]
    reply = Message.objects.get(direction="out")
    assert reply.status == MessageStatus.SENT and reply.channel == "whatsapp"
    assert Event.objects.filter(customer=customer, event="message_sent").count() == 1
    assert not Conversation.objects.filter(customer=customer, needs_human=True).exists()
    page = client.get(f"/w/{tenant.workspace.slug}/inbox/").content.decode()
    assert "Answered" in page and "Waiting for a reply" not in page


def test_a_refused_reply_says_why_and_sends_nothing(tenant, client):
    customer = person(tenant.workspace)
    inbound(customer, "hi")
    client.force_login(tenant.owner)
    response = client.post(f"/w/{tenant.workspace.slug}/inbox/{customer.pk}/", {"body": "hello"}, follow=True)
    assert "Not sent: Connect Twilio first." in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_a_thread_follows_merged_customers(tenant, client):
    survivor = person(tenant.workspace)
    other = person(tenant.workspace, email="other@example.com", phone="", visitor="v9")
    inbound(other, "from the old profile", channel="email")
    Customer.objects.filter(pk=other.pk).update(status="merged", merged_into=survivor)
    client.force_login(tenant.owner)
    html = client.get(f"/w/{tenant.workspace.slug}/inbox/{other.pk}/").content.decode()
    assert "from the old profile" in html and survivor.email in html


def test_another_workspaces_member_cannot_see_or_reply(
    tenant, other_tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    inbound(customer, "private question")
    client.force_login(other_tenant.owner)
    assert client.get(f"/w/{tenant.workspace.slug}/inbox/").status_code == 404
    assert client.get(f"/w/{other_tenant.workspace.slug}/inbox/{customer.pk}/").status_code == 404
    inbox = client.get(f"/w/{other_tenant.workspace.slug}/inbox/").content.decode()
    assert "private question" not in inbox
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/w/{other_tenant.workspace.slug}/inbox/{customer.pk}/", {"body": "hi"})
    assert response.status_code == 404
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()


def test_drop_off_counts_where_unconverted_people_went_silent(tenant, client):
    now = timezone.now()
    week_ago = now - datetime.timedelta(days=7)

    def silent_after(customer, *, action: str | None, at: datetime.datetime, agent: str = "") -> None:
        conversation = thread_of(inbound(customer, "how much?", at=at - datetime.timedelta(hours=1)))
        if action:
            agent_action_log(
                workspace=tenant.workspace, agent="booking", action=action, customer=customer, occurred_at=at
            )
        Message.objects.create(
            workspace=tenant.workspace,
            customer=customer,
            conversation=conversation,
            channel="sms",
            direction="out",
            body="Here are 3 slots",
            status=MessageStatus.SENT,
            sent_at=at,
            agent=agent,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=at)

    people = [
        person(tenant.workspace, email=f"p{i}@example.com", phone=f"+1415555{2000 + i}", visitor=f"v{i}")
        for i in range(5)
    ]
    silent_after(people[0], action="booking_offered", at=week_ago, agent="booking")
    silent_after(people[1], action="booking_offered", at=week_ago, agent="booking")
    silent_after(people[2], action=None, at=week_ago)  # the team's reply, unanswered
    silent_after(people[3], action="booking_offered", at=now - datetime.timedelta(hours=3))  # not silent yet
    silent_after(people[4], action="quote_sent", at=week_ago)
    Customer.objects.filter(pk=people[4].pk).update(rung=4)  # booked since: converted, not a drop-off
    assert [(d.step, d.people) for d in drop_offs(workspace=tenant.workspace, now=now)] == [
        ("booking_offered", 2),
        ("team_reply", 1),
    ]
    client.force_login(tenant.owner)
    html = client.get(f"/w/{tenant.workspace.slug}/inbox/").content.decode()
    assert re.search(r'data-step="booking_offered"><td><code>booking_offered</code>, no answer</td><td>2</td>', html)
