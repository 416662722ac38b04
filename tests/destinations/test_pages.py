"""Integrations → Destinations: owners add, test (seeing the provider's answer), pause, remove and
replay; members only look; another workspace's destination is a 404 and stays as it was."""

import pytest
from django.urls import reverse

from integrations.destinations.models import DeliveryState, Destination, DestinationDelivery, DestinationStatus
from integrations.destinations.services import destination_create
from tests.destinations.conftest import Reply
from tests.factories import UserFactory
from workspaces.models import Membership, Role


@pytest.fixture
def owner_client(client, tenant):
    client.force_login(tenant.owner)
    return client


def test_owner_adds_a_webhook_tests_it_pauses_and_removes_it(owner_client, tenant, provider):
    ws = tenant.workspace.slug
    provider.default = Reply(202, {"received": True})
    r = owner_client.post(
        reverse("integrations:destinations", kwargs={"ws": ws}),
        {
            "provider": "webhook",
            "name": "Ops hook",
            "webhook-url": provider.url + "/x",
            "rules": '[{"on": "event", "event": "purchase"}]',
        },
    )
    d = Destination.objects.get(workspace=tenant.workspace)
    assert r.status_code == 302 and r.url == reverse("integrations:destination", kwargs={"ws": ws, "pk": d.pk})
    page = owner_client.get(r.url)
    assert "Signing secret (shown once): whsec_" in page.content.decode()
    r = owner_client.post(r.url, {"action": "test"}, follow=True)
    html = r.content.decode()
    assert "The provider answered: HTTP 202" in html and "received" in html
    assert provider.requests[0].json()["data"]["customer"]["email"] == "test@example.com"
    owner_client.post(reverse("integrations:destination", kwargs={"ws": ws, "pk": d.pk}), {"action": "pause"})
    d.refresh_from_db()
    assert d.status == DestinationStatus.PAUSED
    owner_client.post(reverse("integrations:destination", kwargs={"ws": ws, "pk": d.pk}), {"action": "remove"})
    assert not Destination.objects.filter(pk=d.pk).exists()


def test_bad_rules_json_is_named_and_nothing_is_stored(owner_client, tenant, provider):
    r = owner_client.post(
        reverse("integrations:destinations", kwargs={"ws": tenant.workspace.slug}),
        {"provider": "webhook", "name": "x", "webhook-url": provider.url, "rules": "[{oops"},
        follow=True,
    )
    assert "Rules are not valid JSON" in r.content.decode()
    assert not Destination.objects.exists()


def test_delivery_log_filters_and_replays(owner_client, tenant, provider):
    d = destination_create(
        workspace=tenant.workspace,
        provider="webhook",
        name="H",
        config={"url": provider.url},
        rules=[{"on": "event", "event": "purchase"}],
        actor=tenant.owner,
    )
    failed = DestinationDelivery.objects.create(
        workspace=tenant.workspace,
        destination=d,
        kind="event",
        key="event:1",
        status=DeliveryState.FAILED,
        attempts=3,
        last_answer="HTTP 410: gone",
    )
    DestinationDelivery.objects.create(
        workspace=tenant.workspace,
        destination=d,
        kind="event",
        key="event:2",
        status=DeliveryState.DELIVERED,
        attempts=1,
        last_answer="HTTP 200",
    )
    url = reverse("integrations:destination", kwargs={"ws": tenant.workspace.slug, "pk": d.pk})
    html = owner_client.get(url + "?status=failed").content.decode()
    assert "event:1" in html and "event:2" not in html and "HTTP 410: gone" in html
    owner_client.post(url, {"action": "replay", "delivery": failed.pk})
    failed.refresh_from_db()
    assert failed.status == DeliveryState.PENDING


def test_a_member_only_looks_and_another_workspace_gets_404(client, tenant, other_tenant, provider):
    member = UserFactory.create()
    Membership.objects.create(workspace=tenant.workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    ws = tenant.workspace.slug
    r = client.post(
        reverse("integrations:destinations", kwargs={"ws": ws}),
        {"provider": "webhook", "name": "x", "webhook-url": provider.url, "rules": '[{"on": "event", "event": "a"}]'},
    )
    assert r.status_code == 403 and not Destination.objects.exists()
    theirs = destination_create(
        workspace=other_tenant.workspace,
        provider="webhook",
        name="Theirs",
        config={"url": provider.url},
        rules=[{"on": "event", "event": "a"}],
        actor=other_tenant.owner,
    )
    client.force_login(tenant.owner)
    url = reverse("integrations:destination", kwargs={"ws": ws, "pk": theirs.pk})
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "remove"}).status_code == 404
    assert client.post(url, {"action": "test"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == DestinationStatus.ACTIVE and provider.requests == []
