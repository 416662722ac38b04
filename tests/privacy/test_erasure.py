"""Erasure removes the person from every table; their opt-outs survive on the hashed list."""

import json

import pytest
from django.apps import apps
from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.urls import reverse

from agents.models import Conversation, Message
from identity.models import ConsentRecord, Customer, CustomerStatus, Identifier, MergeLog, Suppression
from identity.normalize import claims_from_values
from identity.privacy.erasure import subject_erase
from identity.privacy.services import preferences_update
from integrations.models import TrackedLink, WebhookDelivery
from tests.privacy.conftest import person_make
from tracking.models import Event, Visit

pytestmark = pytest.mark.django_db

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def _walk_customer_refs(value, customer_ids: set[int], key: str = "", listed: bool = False) -> bool:
    if isinstance(value, dict):
        return any(_walk_customer_refs(v, customer_ids, k) for k, v in value.items())
    if isinstance(value, list):
        return any(_walk_customer_refs(v, customer_ids, key, listed=True) for v in value)
    if key.lower().endswith("customers") and not listed:
        return False  # a count ("customers": 2 in an erasure's outcome), which a small id can equal
    return "customer" in key.lower() and value in customer_ids | {str(i) for i in customer_ids}


def scan(needles: list[str], customer_ids: set[int]) -> list[str]:
    """Every text/JSON column of every table, searched for each needle; every foreign key to a
    customer and every JSON value under a `customer…` key, searched for the customer ids."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model is Customer:
                if model._default_manager.filter(**{f"{field.attname}__in": customer_ids}).exists():
                    found.append(f"{model._meta.label}.{field.name} → customer")
                continue
            if not isinstance(field, TEXT_FIELDS):
                continue
            qs = model._default_manager.all()
            target = field.name
            if isinstance(field, models.JSONField):
                qs = qs.annotate(_scan_text=Cast(field.name, TextField()))
                target = "_scan_text"
                for value in qs.exclude(**{field.name: None}).values_list(field.name, flat=True).iterator():
                    if _walk_customer_refs(value, customer_ids):
                        found.append(f"{model._meta.label}.{field.name} customer id")
            condition = Q()
            for needle in needles:
                condition |= Q(**{f"{target}__icontains": needle})
            if qs.filter(condition).exists():
                found.append(f"{model._meta.label}.{field.name}")
    return found


def rich_person(tenant):
    ws = tenant.workspace
    person = person_make(ws)
    # An earlier customer that stitching merged into the person, with its own event and merge log.
    shell = Customer.objects.create(
        workspace=ws, status=CustomerStatus.MERGED, merged_into=person.customer, email=person.email, name=person.name
    )
    Event.objects.create(
        workspace=ws,
        customer=shell,
        event="form_submit",
        occurred_at=person.customer.first_seen,
        properties={"email": person.email},
    )
    MergeLog.objects.create(
        workspace=ws,
        survivor=person.customer,
        merged=shell,
        reason="same email",
        moved={"events": [1, 2], "customer_id": shell.pk},
    )
    conversation = Conversation.objects.create(workspace=ws, customer=person.customer, channel="whatsapp")
    Message.objects.create(
        workspace=ws,
        conversation=conversation,
        customer=person.customer,
        channel="whatsapp",
        direction="in",
        body=f"Hello, this is {person.name}, call me on {person.phone}",
        status="received",
    )
    TrackedLink.objects.create(workspace=ws, customer=person.customer, target_url="https://acme.test/book")
    WebhookDelivery.objects.create(
        workspace=ws,
        provider="twilio",
        provider_event_id="SM123",
        body=f"From=whatsapp%3A%2B{person.phone[1:]}&Body=Hi+{person.name.replace(' ', '+')}",
    )
    WebhookDelivery.objects.create(
        workspace=ws,
        provider="stripe",
        provider_event_id="evt_1",
        body=json.dumps({"data": {"object": {"customer_email": person.email.upper()}}}),
    )
    for vid in person.devices:
        Visit.objects.create(
            workspace=ws,
            device_hash=person.device_hashes[person.devices.index(vid)],
            session_id="s",
            started_at=person.customer.first_seen,
            last_event_at=person.customer.last_seen,
        )
    ConsentRecord.objects.create(
        workspace=ws,
        customer=person.customer,
        device_hash=person.device_hashes[0],
        choice="granted",
        source="banner",
        text="We use first-party analytics.",
    )
    # An event recorded from one of their devices but not (yet) attached to them.
    Event.objects.create(
        workspace=ws, event="page_view", occurred_at=person.customer.last_seen, device_hash=person.device_hashes[1]
    )
    preferences_update(workspace=ws, customer=person.customer, changes={"marketing_email": False}, source="preferences")
    return person, shell


def test_nothing_about_the_person_remains_anywhere(client, tenant):
    person, shell = rich_person(tenant)
    bystander = person_make(
        tenant.workspace, email="bob@example.net", phone="+14155550999", name="Bob Bystander", devices=("dev-bob-1",)
    )
    needles = [person.email, person.phone, person.phone[1:], person.name, *person.devices]
    ids = {person.customer.pk, shell.pk}
    assert scan(needles, ids)  # the scan does find the person before erasure

    client.force_login(tenant.owner)
    response = client.post(
        reverse("privacy:dsr_create", kwargs={"ws": tenant.workspace.slug}),
        {"customer_id": shell.pk, "kind": "erasure", "confirm": "1"},  # any customer of the group will do
    )
    assert response.status_code == 302

    assert scan(needles, ids) == []
    # The bystander is untouched.
    assert Customer.objects.filter(pk=bystander.customer.pk).exists()
    assert Event.objects.filter(customer=bystander.customer).count() == 5
    assert Identifier.objects.filter(customer=bystander.customer).count() == 3
    # The request stays, naming the subject only by a keyed hash, with non-personal counts.
    from identity.models import DataSubjectRequest

    dsr = DataSubjectRequest.objects.get()
    assert dsr.customer is None and len(dsr.subject_ref) == 64
    assert dsr.outcome["events"] == 10 and dsr.outcome["webhook_payloads"] == 2 and dsr.outcome["messages"] == 1


def test_opt_out_survives_erasure_and_re_creation(tenant):
    ws = tenant.workspace
    person = person_make(ws)
    preferences_update(
        workspace=ws,
        customer=person.customer,
        changes={"analytics": False, "marketing_email": False},
        source="preferences",
    )
    subject_erase(workspace=ws, customer=person.customer)
    assert not Customer.objects.filter(workspace=ws).exists()

    # The same email and phone come back (a new form submission): the suppression list still says no.
    claims = claims_from_values(ws, email=person.email.upper(), phone="(415) 555-0123").claims
    for claim in claims:
        row = Suppression.objects.get(workspace=ws, kind=claim.kind, value_hash=claim.value_hash)
        assert row.analytics and row.marketing_email and not row.marketing_sms
    device = claims_from_values(ws, device=person.devices[0]).claims[0]
    assert Suppression.objects.get(workspace=ws, kind="device", value_hash=device.value_hash).analytics
