"""The demo journeys, replayed through the real ingest, read back as the DESIGN says."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from clarm.demo.loading import demo_data_load
from identity.models import Customer, CustomerStatus, Identifier
from tracking.models import Event
from tracking.normalize import claims_from_values

# The webhook receiver schedules work on commit: run it for real, between the steps.
pytestmark = pytest.mark.django_db(transaction=True)


def customer_by_email(workspace, email) -> Customer:
    claim = claims_from_values(workspace, email=email).claims[0]
    return Identifier.objects.get(workspace=workspace, kind="email", value_hash=claim.value_hash).customer


def test_worked_example_and_twelve_day_journey(tenant):
    tenant.workspace.timezone = "America/Los_Angeles"
    tenant.workspace.save()
    result = demo_data_load(workspace=tenant.workspace, write_key=tenant.write_key, people=0)
    assert result.problems == []
    assert result.accepted == 22 and result.duplicates == 0

    dana = customer_by_email(tenant.workspace, "dana.reyes@example.com")
    events = list(Event.objects.filter(customer=dana).order_by("occurred_at", "id"))
    assert [(e.source, e.rung) for e in events] == [
        ("web", 0),
        ("web", 0),
        ("web", 2),
        ("channel", 3),
        ("agent", 3),
        ("webhook", 4),
        ("agent", 4),
    ]
    assert dana.status == CustomerStatus.LIVE and dana.rung == 4 and dana.customer_number == 1

    marcus = customer_by_email(tenant.workspace, "marcus.hill@example.com")
    events = list(Event.objects.filter(customer=marcus).order_by("occurred_at", "id"))
    assert len(events) == 15
    assert [e.rung for e in events] == [0, 0, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4]
    assert [e.source for e in events][:10] == [
        "web",
        "web",
        "web",
        "web",
        "agent",
        "agent",
        "pixel",
        "channel",
        "agent",
        "webhook",
    ]
    assert marcus.customer_number == 2
    assert Customer.objects.filter(workspace=tenant.workspace, status=CustomerStatus.LIVE).count() == 2

    # The ledger reads like the product page.
    client = Client()
    client.force_login(tenant.owner)
    body = client.get(
        reverse("identity:customer", kwargs={"ws": tenant.workspace.slug, "pk": dana.pk})
    ).content.decode()
    assert re.findall(r'<span class="rel">([^<]+)</span>', body)[:6] == [
        "T+0",
        "T+12s",
        "T+1m",
        "T+9m",
        "T+11m",
        "T+15m",
    ]
    for title in (
        "Views /",
        "Clicks Our services",
        "Submits quote form: email and phone captured",
        "WhatsApp message in",
        "Agent qualified the lead",
        "Stripe payment received: $50.00",
        "Agent sent a reminder",
    ):
        assert title in body

    # Idempotent: a second run is all duplicates and changes nothing.
    before = Event.objects.filter(workspace=tenant.workspace).count()
    again = demo_data_load(workspace=tenant.workspace, write_key=tenant.write_key, people=0)
    assert again.problems == [] and again.accepted == 0 and again.duplicates == 22
    assert Event.objects.filter(workspace=tenant.workspace).count() == before
