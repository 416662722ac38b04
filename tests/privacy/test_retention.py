"""Retention: events older than the workspace's period go, in batches; each run is recorded."""

import datetime

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from agents.models import Conversation, Message
from identity.models import ConsentRecord, Customer, Identifier, MergeLog, RetentionRun, Suppression
from identity.privacy.retention import months_before, retention_purge
from identity.privacy.services import preferences_update
from identity.privacy.tasks import retention_purge_all
from integrations.models import TrackedLink, WebhookDelivery
from integrations.services import link_create
from tests.privacy.conftest import person_make
from tests.privacy.scan import scan_database
from tracking.models import Event, PendingEvent, Visit
from tracking.normalize import claims_from_values
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def event_at(workspace, at, name="page_view"):
    return Event.objects.create(workspace=workspace, event=name, occurred_at=at)


def test_months_before_clamps_to_the_end_of_month():
    at = datetime.datetime(2026, 3, 31, 12, 0, tzinfo=datetime.UTC)
    assert months_before(at, 1) == datetime.datetime(2026, 2, 28, 12, 0, tzinfo=datetime.UTC)
    assert months_before(at, 24) == datetime.datetime(2024, 3, 31, 12, 0, tzinfo=datetime.UTC)
    assert months_before(at, 15) == datetime.datetime(2024, 12, 31, 12, 0, tzinfo=datetime.UTC)


def test_boundary_one_second_each_side(tenant, other_tenant):
    ws = tenant.workspace
    Workspace.objects.filter(pk=ws.pk).update(retention_months=12)
    ws.refresh_from_db()
    now = timezone.now().replace(microsecond=0)
    cutoff = months_before(now, 12)
    older = event_at(ws, cutoff - datetime.timedelta(seconds=1))
    newer = event_at(ws, cutoff + datetime.timedelta(seconds=1))
    exactly = event_at(ws, cutoff)
    foreign_old = event_at(other_tenant.workspace, cutoff - datetime.timedelta(days=400))
    old_payload = WebhookDelivery.objects.create(
        workspace=ws, provider="stripe", provider_event_id="evt_old", received_at=cutoff - datetime.timedelta(seconds=1)
    )
    new_payload = WebhookDelivery.objects.create(
        workspace=ws, provider="stripe", provider_event_id="evt_new", received_at=cutoff + datetime.timedelta(seconds=1)
    )

    run = retention_purge(workspace=ws, now=now)

    assert not Event.objects.filter(pk=older.pk).exists()
    assert Event.objects.filter(pk=newer.pk).exists()
    assert Event.objects.filter(pk=exactly.pk).exists()
    assert Event.objects.filter(pk=foreign_old.pk).exists()  # another workspace's events are its own business
    assert not WebhookDelivery.objects.filter(pk=old_payload.pk).exists()
    assert WebhookDelivery.objects.filter(pk=new_payload.pk).exists()
    assert (run.events_deleted, run.payloads_deleted, run.cutoff, run.retention_months) == (1, 1, cutoff, 12)


def test_purges_in_bounded_batches(tenant):
    ws = tenant.workspace
    now = timezone.now()
    old = now - datetime.timedelta(days=800)
    Event.objects.bulk_create([Event(workspace=ws, event="page_view", occurred_at=old) for _ in range(23)])
    keep = event_at(ws, now)
    Visit.objects.create(workspace=ws, device_hash="d", session_id="s", started_at=old, last_event_at=old)
    run = retention_purge(workspace=ws, now=now, batch_size=5)
    assert run.events_deleted == 23 and run.visits_deleted == 1
    assert list(Event.objects.filter(workspace=ws).values_list("pk", flat=True)) == [keep.pk]


def test_nightly_task_runs_every_workspace_of_this_region(tenant, other_tenant):
    Workspace.objects.filter(pk=other_tenant.workspace.pk).update(region="us")
    old = timezone.now() - datetime.timedelta(days=900)
    event_at(tenant.workspace, old)
    foreign = event_at(other_tenant.workspace, old)
    with override_settings(CLARM_REGION="eu"):
        assert retention_purge_all.delay().get() == 1
    assert RetentionRun.objects.filter(workspace=tenant.workspace).count() == 1
    assert not RetentionRun.objects.filter(workspace=other_tenant.workspace).exists()
    assert Event.objects.filter(pk=foreign.pk).exists()


def test_privacy_page_shows_the_last_purge(client, tenant):
    event_at(tenant.workspace, timezone.now() - datetime.timedelta(days=900))
    retention_purge(workspace=tenant.workspace)
    client.force_login(tenant.owner)
    html = client.get(reverse("identity:privacy", kwargs={"ws": tenant.workspace.slug})).content.decode()
    assert "removed 1 events" in html
    assert "kept for <strong>24 months" in html


def _age(customer, *, months: int, now) -> None:
    """Move everything of the customer `months` into the past."""
    then = months_before(now, months)
    Event.objects.filter(customer=customer).update(occurred_at=then, received_at=then)
    Customer.objects.filter(pk=customer.pk).update(first_seen=then, last_seen=then, created_at=then)
    Message.objects.filter(customer=customer).update(created_at=then)


def test_a_person_with_nothing_left_inside_the_window_is_deleted_leaving_only_the_suppression_hash(
    tenant, settings, tmp_path
):
    ws = tenant.workspace
    now = timezone.now()
    gone = person_make(ws)
    preferences_update(workspace=ws, customer=gone.customer, changes={"analytics": False}, source="preferences")
    # A device linked after the opt-out, by hand (the identity helper's device move would do the same).
    late_device = claims_from_values(ws, device="dev-linked-late").claims[0]
    Identifier.objects.create(
        workspace=ws, customer=gone.customer, kind="device", value_hash=late_device.value_hash, masked="dev-…"
    )
    conversation = Conversation.objects.create(workspace=ws, customer=gone.customer, channel="sms")
    message = Message.objects.create(
        workspace=ws,
        conversation=conversation,
        customer=gone.customer,
        channel="sms",
        direction="in",
        body=f"This is {gone.name}",
        status="received",
        provider_message_id="SM0d1e2f3a4b5c",
    )
    link_create(workspace=ws, target_url="https://acme.test/for/jane", message_id=message.pk)
    _age(gone.customer, months=30, now=now)
    TrackedLink.objects.filter(workspace=ws).update(created_at=months_before(now, 30))
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=months_before(now, 30))
    shell = Customer.objects.create(
        workspace=ws, status="merged", merged_into=gone.customer, email=gone.email, created_at=months_before(now, 30)
    )
    MergeLog.objects.create(
        workspace=ws, survivor=gone.customer, merged=shell, reason="same email", created_at=months_before(now, 30)
    )
    proof = ConsentRecord.objects.get(workspace=ws, customer=gone.customer)
    ConsentRecord.objects.filter(pk=proof.pk).update(created_at=months_before(now, 30))
    stays = person_make(ws, email="bob@example.net", phone="+14155550999", name="Bob Stays", devices=("dev-bob",))

    needles = [gone.email, gone.phone, gone.phone[1:], gone.name, *gone.devices, "SM0d1e2f3a4b5c", "acme.test/for"]
    assert len(scan_database(needles, {gone.customer.pk, shell.pk})) >= 6  # the scan sees the person before

    run = retention_purge(workspace=ws, now=now)

    assert scan_database(needles, {gone.customer.pk, shell.pk}) == []
    assert not Identifier.objects.filter(customer_id=gone.customer.pk).exists()
    assert run.customers_deleted == 2 and run.messages_deleted == 1 and run.merge_logs_deleted == 1
    # The opt-out outlives the person, for every identifier they had, the late device included.
    hashes = [
        *gone.device_hashes,
        late_device.value_hash,
        *(c.value_hash for c in claims_from_values(ws, email=gone.email, phone=gone.phone).claims),
    ]
    assert Suppression.objects.filter(workspace=ws, value_hash__in=hashes, analytics=True).count() == len(hashes)
    # The consent record stays as proof, without a link to anybody.
    proof.refresh_from_db()
    assert proof.customer_id is None and proof.choice == "withdrawn"
    assert Customer.objects.filter(pk=stays.customer.pk).exists()
    assert Event.objects.filter(customer=stays.customer).count() == 5


def test_kept_people_keep_no_purged_date_and_lose_only_what_is_old(tenant):
    ws = tenant.workspace
    now = timezone.now()
    cutoff = months_before(now, ws.retention_months)
    person = person_make(ws)
    old_event = Event.objects.filter(customer=person.customer)[0]
    Event.objects.filter(pk=old_event.pk).update(occurred_at=cutoff - datetime.timedelta(days=40))
    Customer.objects.filter(pk=person.customer.pk).update(first_seen=cutoff - datetime.timedelta(days=40))
    old_message = Message.objects.create(
        workspace=ws, customer=person.customer, channel="sms", direction="in", body="old", status="received"
    )
    Message.objects.filter(pk=old_message.pk).update(created_at=cutoff - datetime.timedelta(days=1))
    new_message = Message.objects.create(
        workspace=ws, customer=person.customer, channel="sms", direction="in", body="new", status="received"
    )
    other = Customer.objects.create(workspace=ws, first_seen=cutoff - datetime.timedelta(days=3))
    log = MergeLog.objects.create(
        workspace=ws,
        survivor=person.customer,
        merged=other,
        reason="same email",
        moved={
            "survivor_before": {"first_seen": (cutoff - datetime.timedelta(days=40)).isoformat()},
            "merged_before": {"first_seen": (cutoff - datetime.timedelta(days=3)).isoformat()},
            "survivor_after": {"first_seen": (cutoff - datetime.timedelta(days=40)).isoformat()},
        },
    )
    old_consent = ConsentRecord.objects.create(workspace=ws, choice="granted", source="banner", text="ok")
    ConsentRecord.objects.filter(pk=old_consent.pk).update(created_at=months_before(now, 61))
    recent_consent = ConsentRecord.objects.create(workspace=ws, choice="granted", source="banner", text="ok")
    ConsentRecord.objects.filter(pk=recent_consent.pk).update(created_at=months_before(now, 59))

    # Old and last seen long ago, but a message of a customer merged into them is inside the window.
    quiet = Customer.objects.create(
        workspace=ws,
        created_at=months_before(now, 40),
        first_seen=months_before(now, 40),
        last_seen=months_before(now, 40),
    )
    merged_in = Customer.objects.create(
        workspace=ws, status="merged", merged_into=quiet, created_at=months_before(now, 40)
    )
    Message.objects.create(
        workspace=ws, customer=merged_in, channel="sms", direction="in", body="hi", status="received"
    )

    run = retention_purge(workspace=ws, now=now)

    assert Customer.objects.filter(pk__in=[quiet.pk, merged_in.pk]).count() == 2
    person.customer.refresh_from_db()
    earliest = Event.objects.filter(customer=person.customer).order_by("occurred_at")[0]
    assert person.customer.first_seen == earliest.occurred_at >= cutoff
    assert not Message.objects.filter(pk=old_message.pk).exists() and Message.objects.filter(pk=new_message.pk).exists()
    log.refresh_from_db()
    assert all(datetime.datetime.fromisoformat(s["first_seen"]) >= cutoff for s in log.moved.values())
    assert not ConsentRecord.objects.filter(pk=old_consent.pk).exists()
    assert ConsentRecord.objects.filter(pk=recent_consent.pk).exists()
    assert run.consent_records_deleted == 1 and run.customers_deleted == 0


def test_pending_events_set_aside_before_the_cutoff_go_with_the_window(tenant, other_tenant, settings):
    """An event that never stitched (left aside after CLARM_STITCH_MAX_ATTEMPTS failures) still holds
    the identifiers it carried, plain email included: retention deletes it once it was received
    before the cutoff, like the stored events."""
    now = timezone.now()
    cutoff = months_before(now, tenant.workspace.retention_months)

    def pending(workspace, at):
        return PendingEvent.objects.create(
            workspace=workspace,
            partition=0,
            received_at=at,
            attempts=settings.CLARM_STITCH_MAX_ATTEMPTS,
            data={"claims": [["email", "h", "a***@example.com", "ann@example.com"]]},
        )

    old = pending(tenant.workspace, cutoff - datetime.timedelta(seconds=1))
    recent = pending(tenant.workspace, cutoff + datetime.timedelta(seconds=1))
    foreign = pending(other_tenant.workspace, cutoff - datetime.timedelta(days=1))

    retention_purge(workspace=tenant.workspace, now=now)

    assert set(PendingEvent.objects.values_list("pk", flat=True)) == {recent.pk, foreign.pk}
    assert not PendingEvent.objects.filter(pk=old.pk).exists()
