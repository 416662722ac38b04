"""The install page's check: the last event from the site, and "Send a test event" through the real
edge and stitcher (no customer made); tenant-safe."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from identity.models import Customer
from tracking.models import Event

pytestmark = pytest.mark.django_db


def install(tenant) -> str:
    return reverse("workspaces:install", kwargs={"ws": tenant.workspace.slug})


def test_a_new_workspace_is_told_nothing_arrived_yet(owner_client, tenant):
    body = owner_client.get(install(tenant)).content.decode()
    assert "Nothing from your site yet" in body and "Send a test event" in body


def test_the_last_event_from_the_site_is_shown_and_server_events_do_not_count(owner_client, tenant):
    site = {"event": "page_view", "visitor_id": "install-dev", "url": "https://acme.test/pricing", "message_id": "i1"}
    agent = {"event": "lead_qualified", "source": "agent", "email": "ana@acme.test", "message_id": "i2"}
    for body in (site, agent):  # the agent's event is newer, but is not from the site
        response = Client().post(
            "/api/track", json.dumps(body), content_type="application/json", HTTP_X_CLARM_KEY=tenant.write_key
        )
        assert response.status_code == 202
    page = owner_client.get(install(tenant)).content.decode()
    assert "Receiving." in page and "https://acme.test/pricing" in page and "just now" in page
    assert "Nothing from your site yet" not in page


def test_send_a_test_event_goes_through_the_edge_and_makes_no_customer(owner_client, member_client, tenant):
    url = reverse("identity:install_test", kwargs={"ws": tenant.workspace.slug})
    response = owner_client.post(url)
    assert response.status_code == 302 and response["Location"] == install(tenant)
    event = Event.objects.get(workspace=tenant.workspace, event="install_test")
    assert (event.source, event.customer_id) == ("web", None)
    assert not Customer.objects.filter(workspace=tenant.workspace).exists()
    page = owner_client.get(install(tenant)).content.decode()
    assert "Test event sent" in page and "Test event from the install page" in page
    assert member_client.post(url).status_code == 302  # any member may check the install
    assert Event.objects.filter(workspace=tenant.workspace, event="install_test").count() == 2


def test_another_workspace_cannot_send_or_see_the_check(tenant, other_tenant):
    intruder = Client()
    intruder.force_login(other_tenant.owner)
    response = intruder.post(reverse("identity:install_test", kwargs={"ws": tenant.workspace.slug}))
    assert response.status_code == 404
    assert intruder.get(install(tenant)).status_code == 404
    assert not Event.objects.filter(workspace=tenant.workspace).exists()
    anonymous = Client().post(reverse("identity:install_test", kwargs={"ws": tenant.workspace.slug}))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert not Event.objects.exists()
