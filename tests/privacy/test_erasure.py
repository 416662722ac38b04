"""Erasure removes the person from every table; their opt-outs survive on the hashed list."""

import json
from dataclasses import dataclass

import pytest
from django.urls import reverse

from agents.models import Conversation, Message
from identity.models import (
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    ExportJob,
    Identifier,
    MergeLog,
    Suppression,
)
from identity.privacy.erasure import subject_erase
from identity.privacy.services import preferences_update
from identity.privacy.workspace_exports import export_job_run
from identity.services import customers_merge_manual
from integrations.models import TrackedLink, WebhookDelivery
from integrations.services import link_create
from tests.privacy.conftest import person_make, track
from tests.privacy.scan import scan_database, scan_export_files
from tracking.models import DedupeKey, Event, PendingEvent
from tracking.normalize import claims_from_values

pytestmark = pytest.mark.django_db

EMAIL = "jane.doe@example.org"
PHONE = "+14155550123"
NAME = "Jane Doe"
USER_ID = "acct-7781-jane"
PHONE_DEVICE, LAPTOP_DEVICE, TABLET_DEVICE = "dev-7f3a9c21-phone", "dev-2b8e41d0-laptop", "dev-c4d1e9a7-tablet"
SID = "SM5f0c2d9e7b1a4c3d"
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@dataclass
class Traces:
    customer: Customer
    needles: list[str]
    customer_ids: set[int]


def person_everywhere(client, tenant) -> Traces:
    """A person who left traces through every path: ingest on three devices (the third linked after
    an opt-out), an identify carrying their account id, a second record merged into them by hand
    (merge log), bot-flagged events carrying their identifiers, a conversation, tracked links for
    them and for one of their messages, provider webhooks (one naming them only by a message id,
    one only by having produced their event), a consent record and a workspace export file."""
    ws = tenant.workspace
    track(client, tenant, visitor_id=PHONE_DEVICE, message_id="msg-jane-0001", url="https://acme.test/quote")
    track(
        client,
        tenant,
        event="identify",
        visitor_id=PHONE_DEVICE,
        user_id=USER_ID,
        message_id="msg-jane-0002",
        properties={"email": EMAIL, "phone": PHONE, "name": NAME},
    )
    # Another record of the same person (a laptop with a company name), merged in by hand.
    track(
        client, tenant, event="identify", visitor_id=LAPTOP_DEVICE, traits={"company": "Doe Holdings", "plan": "gold"}
    )
    person = Customer.objects.get(workspace=ws, email=EMAIL)
    laptop = Customer.objects.exclude(pk=person.pk).get(workspace=ws)
    customers_merge_manual(workspace=ws, survivor=person, merged=laptop, actor=tenant.owner)
    preferences_update(workspace=ws, customer=person, changes={"marketing_email": False}, source="preferences")
    # A device linked after the opt-out (analytics is still allowed, so it is stitched).
    track(client, tenant, event="identify", visitor_id=TABLET_DEVICE, properties={"email": EMAIL.upper()})
    assert Identifier.objects.filter(customer=person, kind="device").count() == 3
    # Bot-flagged events are never stitched, but they carry the person's identifiers.
    track(client, tenant, user_agent=BOT_UA, properties={"email": EMAIL, "phone": "(415) 555-0123"})
    track(client, tenant, user_agent=BOT_UA, properties={"user_id": USER_ID, "plan": "gold"})
    assert Event.objects.filter(workspace=ws, is_bot=True, customer__isnull=True).count() == 2

    conversation = Conversation.objects.create(workspace=ws, customer=person, channel="whatsapp")
    message = Message.objects.create(
        workspace=ws,
        conversation=conversation,
        customer=person,
        channel="whatsapp",
        direction="out",
        body=f"Hi {NAME}, your quote is ready",
        status="sent",
        provider_message_id=SID,
    )
    link_create(workspace=ws, target_url="https://acme.test/book", customer_id=person.pk, label="Booking")
    link_create(workspace=ws, target_url="https://acme.test/quote/jane", message_id=message.pk, channel="whatsapp")
    WebhookDelivery.objects.create(
        workspace=ws, provider="twilio", provider_event_id="st-1", body=f"MessageSid={SID}&MessageStatus=delivered"
    )
    WebhookDelivery.objects.create(
        workspace=ws,
        provider="stripe",
        provider_event_id="evt_jane_paid",
        body=json.dumps({"data": {"object": {"customer": "cus_Q1w2e3", "amount": 4900}}}),
    )
    Event.objects.create(
        workspace=ws,
        customer=person,
        event="payment",
        source="webhook",
        message_id="stripe:evt_jane_paid",
        occurred_at=person.last_seen,
    )
    WebhookDelivery.objects.create(
        workspace=ws,
        provider="sendgrid",
        provider_event_id="sg-1",
        body=json.dumps([{"email": EMAIL.upper(), "event": "open"}]),
    )
    ConsentRecord.objects.create(
        workspace=ws, customer=person, purpose="analytics", choice="granted", source="banner", text="Analytics ok"
    )
    job = ExportJob.objects.create(workspace=ws, format="json")
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done"

    needles = [
        EMAIL,
        PHONE,
        PHONE[1:],
        NAME,
        "Doe Holdings",
        USER_ID,
        PHONE_DEVICE,
        LAPTOP_DEVICE,
        TABLET_DEVICE,
        "msg-jane-0001",
        "msg-jane-0002",
        SID,
        "evt_jane_paid",
        "acme.test/quote/jane",
    ]
    return Traces(customer=person, needles=needles, customer_ids={person.pk, laptop.pk})


def test_nothing_about_the_person_remains_anywhere(
    client, tenant, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    traces = person_everywhere(client, tenant)
    bystander = person_make(
        tenant.workspace, email="bob@example.net", phone="+14155550999", name="Bob Bystander", devices=("dev-bob-1",)
    )
    found = set(scan_database(traces.needles, traces.customer_ids))
    # The scan does find the person before erasure, in the places this test means to cover.
    assert {
        "tracking.Event.properties",
        "integrations.TrackedLink.target_url",
        "integrations.WebhookDelivery.body",
        "agents.Message.provider_message_id",
        "identity.Customer.email",
    } <= found
    assert scan_export_files(traces.needles)
    assert MergeLog.objects.filter(workspace=tenant.workspace).exists()

    client.force_login(tenant.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("privacy:dsr_create", kwargs={"ws": tenant.workspace.slug}),
            {"customer_id": traces.customer.pk, "kind": "erasure", "confirm": "1"},
        )
    assert response.status_code == 302

    assert scan_database(traces.needles, traces.customer_ids) == []
    assert scan_export_files(traces.needles) == []
    assert list(TrackedLink.objects.filter(workspace=tenant.workspace).values_list("target_url", "message_id")) == []
    assert ExportJob.objects.get().status == "expired"
    # The bystander is untouched.
    assert Customer.objects.filter(pk=bystander.customer.pk).exists()
    assert Event.objects.filter(customer=bystander.customer).count() == 5
    assert Identifier.objects.filter(customer=bystander.customer).count() == 3
    # The request stays, naming the subject only by a keyed hash, with non-personal counts.
    dsr = DataSubjectRequest.objects.get()
    assert dsr.customer is None and len(dsr.subject_ref) == 64
    assert dsr.outcome["webhook_payloads"] == 3 and dsr.outcome["messages"] == 1 and dsr.outcome["export_files"] == 1


def test_suppression_gets_every_identifier_including_devices_linked_after_the_opt_out(
    client, tenant, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    ws = tenant.workspace
    traces = person_everywhere(client, tenant)
    subject_erase(workspace=ws, customer=traces.customer)
    for kind, value in (
        ("device", PHONE_DEVICE),
        ("device", LAPTOP_DEVICE),
        ("device", TABLET_DEVICE),
        ("email", EMAIL),
        ("phone", PHONE),
        ("user_id", USER_ID),
    ):
        claim = claims_from_values(ws, **{kind: value}).claims[0]  # type: ignore[arg-type]
        row = Suppression.objects.get(workspace=ws, kind=claim.kind, value_hash=claim.value_hash)
        assert row.marketing_email and not row.analytics, kind


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


def test_a_suppressed_identify_after_erasure_never_re_creates_the_customer(client, tenant, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ws = tenant.workspace
    traces = person_everywhere(client, tenant)
    preferences_update(workspace=ws, customer=traces.customer, changes={"analytics": False}, source="preferences")
    subject_erase(workspace=ws, customer=traces.customer)
    assert not Customer.objects.filter(workspace=ws).exists()

    # A new device (never seen), then the erased person's own devices, identify with their email.
    for device in ("dev-brand-new-after-erasure", PHONE_DEVICE, TABLET_DEVICE):
        answer = track(
            client,
            tenant,
            event="identify",
            visitor_id=device,
            user_id=USER_ID,
            properties={"email": EMAIL, "name": NAME, "company": "Doe Holdings"},
        )
        assert answer["accepted"] == 1, (device, answer)  # appended; the stitcher refuses it
    assert not Customer.objects.filter(workspace=ws).exists()
    assert not Identifier.objects.filter(workspace=ws).exists()
    assert scan_database([EMAIL, NAME, "Doe Holdings", USER_ID]) == []


def test_erasure_takes_the_persons_pending_events_a_stitcher_set_aside(client, tenant, settings):
    """Events of the person still pending because they failed to stitch CLARM_STITCH_MAX_ATTEMPTS
    times (the stitch before the erasure does not take them) hold their identifiers, the plain email
    and phone too: they go with the person, with their dedupe keys; anyone else's stay."""
    ws = tenant.workspace
    track(client, tenant, event="identify", visitor_id=PHONE_DEVICE, properties={"email": EMAIL, "phone": PHONE})
    person = Customer.objects.get(workspace=ws, email=EMAIL)
    settings.CLARM_STITCH_INLINE = False
    track(client, tenant, event="quote_requested", email=EMAIL.upper(), phone=PHONE, message_id="msg-jane-stuck-1")
    track(client, tenant, visitor_id=PHONE_DEVICE, message_id="msg-jane-stuck-2")
    track(client, tenant, event="identify", email="bob@example.net", message_id="msg-bob-stuck")
    PendingEvent.objects.update(attempts=settings.CLARM_STITCH_MAX_ATTEMPTS)
    assert set(scan_database([EMAIL, PHONE[1:], "msg-jane-stuck"])) >= {"tracking.PendingEvent.data"}

    subject_erase(workspace=ws, customer=person)

    assert scan_database([EMAIL, PHONE[1:], "msg-jane-stuck"]) == []
    assert [p.data["message_id"] for p in PendingEvent.objects.all()] == ["msg-bob-stuck"]
    assert list(DedupeKey.objects.filter(workspace=ws).values_list("key", flat=True)) == ["msg-bob-stuck"]
