"""The customer page's header (issue 16): first touch, channels with icons, total paid, next
booking, last activity, intent and company; each event's stored payload one click away; the
person's privacy link for an admin to copy."""

import datetime
import html
import json
import re
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from identity.models import Customer, PersonFacts
from identity.selectors import channels_used
from tests.dashboard.test_dashboard import story
from tests.ui.conftest import add_event, client_for, make_customer
from tracking.models import Event
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def url(customer: Customer) -> str:
    return reverse("identity:customer", kwargs={"ws": customer.workspace.slug, "pk": customer.pk})


def header_text(response) -> str:
    section = response.content.decode().split('id="who"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)).strip()


def fact(response, name: str) -> str:
    section = response.content.decode().split('id="who"', 1)[1].split("</section>", 1)[0]
    match = re.search(rf"<dt>{name}</dt><dd[^>]*>(.*?)</dd>", section, re.S)
    assert match, name
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip())


@pytest.fixture
def ana(tenant, django_capture_on_commit_callbacks):
    """Ana from the dashboard story, through the real ingest: an ad click on /pricing (campaign
    spring), her email in a form, a $50 Stripe payment."""
    story(tenant.workspace, django_capture_on_commit_callbacks)
    return Customer.objects.get(workspace=tenant.workspace, email="ana@ex.com")


def test_header_answers_who_and_from_where(ana):
    response = client_for(ana.workspace).get(url(ana))
    assert response.status_code == 200
    assert fact(response, "First touch").startswith("Ad · campaign spring Landed on /pricing · no referrer")
    assert fact(response, "Channels") == "Web Ad Stripe"
    icons = re.findall(r'<use href="#ch-icon-(\w+)"', response.content.decode().split('id="who"', 1)[1])
    assert icons[:4] == ["ad", "web", "ad", "stripe"]  # the first touch's, then one per channel
    assert fact(response, "Total paid") == "$50.00"
    assert fact(response, "Next booking") == "None booked"
    assert fact(response, "Last activity") in {"30 min ago", "29 min ago", "31 min ago"}


def test_a_write_key_cannot_put_a_payment_or_a_booking_in_the_header(tenant, ana, django_capture_on_commit_callbacks):
    """The write key is public (it is in the site's snippet): events it labels `source: "webhook"`
    are stored, but the header's money and bookings come only from Clarm's own provider webhooks."""
    soon = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    forged = [
        {"event": "payment_received", "properties": {"amount_minor": 9_999_900, "currency": "usd"}},
        {"event": "booking_created", "properties": {"provider": "calendly", "start_time": soon, "meeting": "Fake"}},
    ]
    for n, item in enumerate(forged):
        body = {**item, "source": "webhook", "email": "ana@ex.com", "message_id": f"forged-{n}"}
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().post(
                "/api/track", json.dumps(body), content_type="application/json", HTTP_X_CLARM_KEY=tenant.write_key
            )
        assert response.status_code == 202, response.content
    stored = Event.objects.filter(customer=ana, message_id__startswith="forged-")
    assert stored.count() == 2  # accepted, and on her timeline
    page = client_for(ana.workspace).get(url(ana))
    assert fact(page, "Total paid") == "$50.00"  # the Stripe payment only
    assert fact(page, "Next booking") == "None booked"


def test_last_activity_says_just_now_and_times_are_in_the_workspace_zone(tenant):
    tenant.workspace.timezone = "Asia/Tokyo"
    tenant.workspace.save()
    at = datetime.datetime(2026, 3, 3, 7, 42, tzinfo=datetime.UTC)  # 16:42 in Tokyo
    customer = make_customer(tenant.workspace, name="Kei", last_seen=timezone.now(), first_seen=at)
    add_event(customer, at=at, context={"url": "https://acme.test/", "referrer": "https://www.google.com/search"})
    response = client_for(tenant.workspace).get(url(customer))
    assert fact(response, "Last activity") == "just now"
    first = fact(response, "First touch")
    assert first == "Web Landed on / · from google.com Mar 3, 2026 4:42 PM"


def test_total_paid_is_payments_less_refunds_without_the_processor(tenant):
    customer = make_customer(tenant.workspace, name="Pay", rung=4, customer_number=1)
    props = {"provider": "stripe", "currency": "eur"}
    add_event(customer, event="payment_received", source="webhook", properties={**props, "amount_minor": 12000})
    add_event(customer, event="payment_received", source="webhook", properties={**props, "amount_minor": 3050})
    add_event(customer, event="payment_refunded", source="webhook", properties={**props, "amount_minor": 2000})
    assert not PersonFacts.objects.filter(customer=customer).exists()
    response = client_for(tenant.workspace).get(url(customer))
    assert fact(response, "Total paid") == "€130.50"
    # Channels come from the events while the processor has not reached the person.
    assert fact(response, "Channels") == "Stripe"


def test_next_booking_is_the_earliest_upcoming_one_not_cancelled(tenant):
    tenant.workspace.timezone = "America/New_York"
    tenant.workspace.save()
    customer = make_customer(tenant.workspace, name="Bo", rung=4, customer_number=2)
    now = timezone.now()

    def booking(name, ref, start, meeting="Site visit"):
        props = {"provider": "calendly", "invitee_uri": ref, "start_time": start.isoformat(), "meeting": meeting}
        return add_event(customer, event=name, source="webhook", properties=props, at=now - datetime.timedelta(days=1))

    booking("booking_created", "inv-past", now - datetime.timedelta(hours=2))
    booking("booking_created", "inv-cancelled", now + datetime.timedelta(hours=3))
    booking("booking_cancelled", "inv-cancelled", now + datetime.timedelta(hours=3))
    upcoming = (now + datetime.timedelta(days=2, hours=1)).replace(second=0, microsecond=0)
    booking("booking_created", "inv-next", upcoming, meeting="Quote walkthrough")
    booking("booking_created", "inv-later", now + datetime.timedelta(days=9))
    response = client_for(tenant.workspace).get(url(customer))
    local = upcoming.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    expected_day = f"{local:%a %b} {local.day}"
    text = fact(response, "Next booking")
    assert text.startswith(expected_day), text
    assert "Quote walkthrough · in 2 days" in text


def test_the_booking_assistants_booking_is_the_next_one_and_follows_a_move(tenant):
    customer = make_customer(tenant.workspace, name="Di", rung=4, customer_number=3)
    now = timezone.now()
    first, moved = now + datetime.timedelta(days=2, hours=1), now + datetime.timedelta(days=5, hours=1)

    def assistant(name, start, key=None, **props):
        props = {"agent": "booking", "start_time": start.isoformat(), "title": "Booked", **props}
        key = key or f"clarm:agent:{name}-{props['booking_id']}"  # the server key agent_action_log gives
        at = now - datetime.timedelta(hours=1)
        return add_event(customer, event=name, source="agent", properties=props, at=at, message_id=key)

    # A write key can send `source: "agent"` too: without Clarm's server key it is not a booking here.
    assistant("booking_taken", now + datetime.timedelta(hours=2), key="snippet-1", booking_id="clarm-booking:9")
    assert fact(client_for(tenant.workspace).get(url(customer)), "Next booking") == "None booked"
    assistant("booking_taken", first, booking_id="clarm-booking:1")
    assert "in 2 days" in fact(client_for(tenant.workspace).get(url(customer)), "Next booking")
    assistant("booking_rescheduled", moved, booking_id="clarm-booking:2", previous_booking_id="clarm-booking:1")
    assert "in 5 days" in fact(client_for(tenant.workspace).get(url(customer)), "Next booking")
    assistant("booking_cancelled", moved, booking_id="clarm-booking:2")
    assert fact(client_for(tenant.workspace).get(url(customer)), "Next booking") == "None booked"


def test_each_event_payload_is_one_click_away_and_escaped(tenant):
    customer = make_customer(tenant.workspace, name="Raw")
    event = add_event(
        customer,
        event="quote_requested",
        properties={"service": "<script>alert(1)</script>", "rooms": 3},
        context={"url": "https://acme.test/quote"},
        message_id="msg-raw-1",
    )
    response = client_for(tenant.workspace).get(url(customer))
    body = response.content.decode()
    row = body.split(f'id="event-{event.pk}"', 1)[1].split("</li>", 1)[0]
    match = re.search(
        r'<details class="payload"><summary>Stored payload</summary><pre>(.*?)</pre></details>', row, re.S
    )
    assert match, row
    assert "<script>alert(1)</script>" not in body
    stored = json.loads(html.unescape(match.group(1)))
    assert stored["id"] == event.pk and stored["message_id"] == "msg-raw-1"
    assert stored["properties"] == {"service": "<script>alert(1)</script>", "rooms": 3}
    assert stored["context"] == {"url": "https://acme.test/quote"}
    # The "load more" fragment rows carry it too.
    fragment = client_for(tenant.workspace).get(url(customer) + "?fragment=1").content.decode()
    assert "Stored payload" in fragment


def test_admin_copies_the_privacy_link_which_opens_the_persons_preferences(tenant):
    customer = make_customer(tenant.workspace, name="Lia", email="lia@ex.com")
    add_event(customer)
    admin = client_for(tenant.workspace, Role.ADMIN)
    body = admin.get(url(customer)).content.decode()
    match = re.search(r'<input id="privacy-link" type="text" readonly value="([^"]+)">', body)
    assert match, "no privacy link for an admin"
    assert 'data-copy="privacy-link"' in body
    link = html.unescape(match.group(1))
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    opened = Client().get(path)  # the person, not signed in
    assert opened.status_code == 200
    assert tenant.workspace.name in opened.content.decode()
    # A member (not admin) sees no link: whoever holds it can change the person's preferences.
    member_body = client_for(tenant.workspace, Role.MEMBER).get(url(customer)).content.decode()
    assert 'id="privacy-link"' not in member_body and "/privacy/preferences/" not in member_body


def test_other_workspace_gets_404_and_nothing_changes(tenant, other_tenant, ana):
    facts_before = list(PersonFacts.objects.values_list("customer_id", "revenue_minor", "last_step"))
    outsider = client_for(other_tenant.workspace, Role.OWNER)
    for path in (url(ana), url(ana) + "?fragment=1"):
        response = outsider.get(path)
        assert response.status_code == 404
        assert "ana@ex.com" not in response.content.decode()
        assert "/privacy/preferences/" not in response.content.decode()
    # Their own URL prefix with our customer's id: the same 404.
    theirs = reverse("identity:customer", kwargs={"ws": other_tenant.workspace.slug, "pk": ana.pk})
    assert outsider.get(theirs).status_code == 404
    assert list(PersonFacts.objects.values_list("customer_id", "revenue_minor", "last_step")) == facts_before


def test_channels_are_every_channel_the_persons_events_came_through_and_no_other(tenant):
    """Each source whose channel is the source itself is probed; messages, tracked links and
    webhooks are told apart by name and properties (identity.channels.channel_of)."""
    customer = make_customer(tenant.workspace, name="Mix")
    other = make_customer(tenant.workspace, name="Other")
    add_event(other, source="ad")
    add_event(other, event="call_completed", source="channel")
    for _ in range(3):
        add_event(customer)  # web
    add_event(customer, event="email_opened", source="email")
    add_event(customer, event="message_received", source="channel", properties={"channel": "whatsapp"})
    add_event(customer, event="link_clicked", source="pixel", properties={"channel": "sms"})
    add_event(customer, event="booking_created", source="webhook", properties={"provider": "calendly"})
    assert channels_used(customer_ids=[customer.pk]) == {customer.pk: {"web", "email", "whatsapp", "sms", "calendly"}}
    assert channels_used(customer_ids=[customer.pk, other.pk])[other.pk] == {"ad", "call"}
    response = client_for(tenant.workspace).get(url(customer))
    assert fact(response, "Channels") == "Web Email SMS WhatsApp Calendly"
