"""A member of workspace A gets 404 on everything of workspace B, and nothing of B changes."""

import pytest
from django.urls import reverse

from identity.models import Customer, CustomerStatus, Identifier, MergeLog
from tests.ui.conftest import add_event, add_identifier, client_for, make_customer
from tracking.models import Event
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_data(other_tenant):
    survivor = make_customer(other_tenant.workspace, name="B One", rung=2)
    add_identifier(survivor, email="b1@example.com")
    device = add_identifier(survivor, device="b-device-1")
    add_event(survivor, device_hash=device.value_hash)
    other = make_customer(other_tenant.workspace, name="B Two")
    add_identifier(other, device="b-device-2")
    return survivor, other, device


def snapshot(workspace):
    return (
        sorted(Customer.objects.filter(workspace=workspace).values_list("pk", "status", "merged_into_id", "rung")),
        sorted(Identifier.objects.filter(workspace=workspace).values_list("pk", "customer_id")),
        sorted(Event.objects.filter(workspace=workspace).values_list("pk", "customer_id")),
        MergeLog.objects.filter(workspace=workspace).count(),
    )


def test_owner_of_a_gets_404_on_b_pages_and_actions(tenant, other_tenant, b_data):
    survivor, other, device = b_data
    a_owner = client_for(tenant.workspace, Role.OWNER)
    before = snapshot(other_tenant.workspace)
    ws = other_tenant.workspace.slug
    for name, kwargs in (
        ("identity:customers", {"ws": ws}),
        ("identity:customer", {"ws": ws, "pk": survivor.pk}),
        ("identity:live", {"ws": ws}),
        ("identity:live_events", {"ws": ws}),
    ):
        assert a_owner.get(reverse(name, kwargs=kwargs)).status_code == 404, name
    merge = reverse("identity:customer_merge", kwargs={"ws": ws, "pk": survivor.pk})
    split = reverse("identity:customer_split", kwargs={"ws": ws, "pk": survivor.pk})
    assert a_owner.post(merge, {"other": str(other.pk)}).status_code == 404
    assert a_owner.post(split, {"identifier": str(device.pk)}).status_code == 404
    assert snapshot(other_tenant.workspace) == before


def test_a_customer_id_of_b_under_a_slug_is_404_and_unchanged(tenant, other_tenant, b_data):
    survivor, _, device = b_data
    a_owner = client_for(tenant.workspace, Role.OWNER)
    mine = make_customer(tenant.workspace, name="A One")
    add_identifier(mine, device="a-device")
    before = snapshot(other_tenant.workspace)
    ws = tenant.workspace.slug
    assert a_owner.get(reverse("identity:customer", kwargs={"ws": ws, "pk": survivor.pk})).status_code == 404
    # Merging B's customer into A's (by id), or splitting B's device through A's customer, changes nothing.
    merge = reverse("identity:customer_merge", kwargs={"ws": ws, "pk": mine.pk})
    response = a_owner.post(merge, {"other": str(survivor.pk)}, follow=True)
    assert "No customer" in response.content.decode()
    split = reverse("identity:customer_split", kwargs={"ws": ws, "pk": mine.pk})
    response = a_owner.post(split, {"identifier": str(device.pk)}, follow=True)
    assert "not one of this customer" in response.content.decode()
    assert (
        a_owner.post(
            reverse("identity:customer_merge", kwargs={"ws": ws, "pk": survivor.pk}), {"other": str(mine.pk)}
        ).status_code
        == 404
    )
    assert snapshot(other_tenant.workspace) == before
    mine.refresh_from_db()
    assert mine.status == CustomerStatus.LIVE


def test_b_customers_never_listed_or_searched_from_a(tenant, other_tenant, b_data):
    a_owner = client_for(tenant.workspace, Role.OWNER)
    make_customer(tenant.workspace, name="A Only")
    url = reverse("identity:customers", kwargs={"ws": tenant.workspace.slug})
    survivor, other, _ = b_data
    for q in ("", "B One", "b1@example.com", str(survivor.pk)):
        body = a_owner.get(url, {"q": q}).content.decode()
        assert f"/customers/{survivor.pk}/" not in body and f"/customers/{other.pk}/" not in body
        assert "B Two" not in body


def test_anonymous_user_is_sent_to_login(client, tenant):
    response = client.get(reverse("identity:customers", kwargs={"ws": tenant.workspace.slug}))
    assert response.status_code == 302 and "login" in response.url
