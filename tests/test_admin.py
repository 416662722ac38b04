"""Staff support works from Django admin: every model of ours has a changelist that loads with data
in it, and records that are evidence cannot be edited there."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory
from tracking.models import DedupeKey, Event

OUR_APPS = ("workspaces", "identity", "tracking", "agents", "integrations")


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_every_model_of_ours_is_in_admin_and_its_changelist_loads(staff_client, tenant):
    staff_client.post(
        f"/api/track?key={tenant.write_key}",
        data='{"event": "identify", "visitor_id": "dev-1", "properties": {"email": "jane@acme.test"}}',
        content_type="application/json",
    )
    assert Event.objects.filter(workspace=tenant.workspace).exists()
    models = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]
    # DedupeKey (a message id and its workspace) has a composite primary key, which Django's admin
    # cannot show; there is nothing in it for staff to read or change.
    ours = [m for m in apps.get_models() if m._meta.app_label in OUR_APPS and m is not DedupeKey]
    assert set(ours) == set(models), f"not in admin: {set(ours) - set(models)}"
    for model in models:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url


def test_events_are_read_only_in_admin(staff_client, tenant):
    staff_client.post(
        f"/api/track?key={tenant.write_key}",
        data='{"event": "page_view", "visitor_id": "dev-1"}',
        content_type="application/json",
    )
    event = Event.objects.get()
    change_url = reverse("admin:tracking_event_change", args=[event.pk])
    page = staff_client.get(change_url)
    assert page.status_code == 200 and b"page_view" in page.content
    staff_client.post(change_url, {"event": "tampered"})
    event.refresh_from_db()
    assert event.event == "page_view"
    assert staff_client.get(reverse("admin:tracking_event_add")).status_code == 403
