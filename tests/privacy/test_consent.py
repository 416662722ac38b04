"""Consent records from consent events: idempotent, and a withdrawal opts the person out."""

import pytest
from django.utils import timezone

from identity.models import ConsentRecord, Customer, Suppression
from identity.privacy.services import consent_record_from_event
from identity.privacy.tasks import consent_record_from_event as consent_task
from tracking.models import Event

pytestmark = pytest.mark.django_db

BANNER = "We use first-party cookies to understand visits. Accept?"


def consent_event(workspace, name, customer=None, device_hash="", choice="all"):
    return Event.objects.create(
        workspace=workspace,
        customer=customer,
        event=name,
        occurred_at=timezone.now(),
        device_hash=device_hash,
        properties={"choice": choice, "version": "2026-01", "text": BANNER},
    )


def test_grant_is_recorded_once(tenant, person):
    event = consent_event(tenant.workspace, "consent_given", person.customer, person.device_hashes[0])
    first = consent_task.delay(event.pk).get()
    again = consent_task.delay(event.pk).get()
    assert first == again
    record = ConsentRecord.objects.get()
    assert (record.choice, record.version, record.source, record.text) == ("granted", "2026-01", "banner", BANNER)
    assert len(record.text_hash) == 64 and record.customer_id == person.customer.pk
    assert Customer.objects.get(pk=person.customer.pk).allow_analytics


def test_withdrawal_opts_the_person_out_everywhere(tenant, person):
    event = consent_event(tenant.workspace, "consent_withdrawn", person.customer, person.device_hashes[1])
    consent_record_from_event(workspace=tenant.workspace, event=event)
    consent_record_from_event(workspace=tenant.workspace, event=event)
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not customer.allow_analytics and not customer.allow_ad_sendback and customer.allow_marketing_email
    assert Suppression.objects.filter(analytics=True).count() == 4
    # The banner record plus the two purposes it switched off.
    assert ConsentRecord.objects.filter(source_event_id=event.pk).count() == 1
    assert ConsentRecord.objects.filter(customer=customer, choice="withdrawn").count() == 3


def test_denial_of_an_anonymous_device(tenant):
    event = consent_event(tenant.workspace, "consent_denied", device_hash="a" * 64)
    consent_record_from_event(workspace=tenant.workspace, event=event)
    row = Suppression.objects.get(kind="device", value_hash="a" * 64)
    assert row.analytics and row.ad_sendback and not row.marketing_email


def test_other_events_and_other_workspaces_are_ignored(tenant, other_tenant, person):
    page = consent_event(tenant.workspace, "page_view", person.customer)
    assert consent_record_from_event(workspace=tenant.workspace, event=page) is None
    event = consent_event(tenant.workspace, "consent_given", person.customer)
    assert consent_record_from_event(workspace=other_tenant.workspace, event=event) is None
    assert consent_task.delay(10**12).get() is None
    assert not ConsentRecord.objects.exists()
