"""Retention: events older than the workspace's period go, in batches; each run is recorded."""

import datetime

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from identity.models import RetentionRun
from identity.privacy.retention import months_before, retention_purge
from identity.privacy.tasks import retention_purge_all
from integrations.models import WebhookDelivery
from tracking.models import Event, Visit
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
