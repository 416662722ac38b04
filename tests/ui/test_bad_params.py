"""Member pages and the read API given values no form produces (Unicode digits, NUL, cursors with
offsets that overflow): a 4xx naming the problem, never a 500, and the good request still works."""

import base64

import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse

from identity import selectors
from identity.cursors import BadCursor, cursor_decode
from identity.models import Identifier
from identity.privacy import selectors as privacy_selectors
from identity.selectors import CustomerFilters
from tests.ui.conftest import add_event, add_identifier, make_customer
from workspaces.selectors import invitation_get_pending

OVERFLOW_CURSOR = base64.urlsafe_b64encode(b"0001-01-01T00:00:00+23:59|5").decode().rstrip("=")


def test_live_events_after_a_unicode_digit_is_a_400(owner_client, tenant):
    customer = make_customer(tenant.workspace)
    event = add_event(customer)
    url = reverse("identity:live_events", kwargs={"ws": tenant.workspace.slug})
    r = owner_client.get(url, {"after": "\u00b2"})
    assert r.status_code == 400
    assert r.json() == {"error": "after must be an event id (a whole number)."}
    good = owner_client.get(url, {"after": "0"})
    assert good.status_code == 200
    assert [e["id"] for e in good.json()["events"]] == [event.pk]


def test_split_with_a_unicode_digit_identifier_changes_nothing(admin_client, tenant):
    customer = make_customer(tenant.workspace)
    device = add_identifier(customer, device="dev-shared-tablet")
    url = reverse("identity:customer_split", kwargs={"ws": tenant.workspace.slug, "pk": customer.pk})
    r = admin_client.post(url, {"identifier": "\u00b2"}, follow=True)
    assert r.status_code == 200
    assert "That device is not one of this customer" in r.content.decode()
    assert Identifier.objects.get(pk=device.pk).customer_id == customer.pk


def test_a_nul_in_a_page_query_is_a_plain_400(owner_client, tenant):
    for name in ("identity:customers", "identity:privacy"):
        r = owner_client.get(reverse(name, kwargs={"ws": tenant.workspace.slug}) + "?q=a%00b")
        assert r.status_code == 400
        assert r["Content-Type"].startswith("text/plain")
        assert r.content.decode() == "The request contains a NUL character."


def test_searches_with_a_nul_match_nobody(tenant):
    make_customer(tenant.workspace, name="Ann")
    filters = CustomerFilters(q="A\x00nn")
    page = selectors.customers_page(workspace=tenant.workspace, filters=filters)
    assert page.rows == []
    assert filters.notes == ["The search contains a NUL character; nothing can match it."]
    found = selectors.customers_page(workspace=tenant.workspace, filters=CustomerFilters(q="Ann"))
    assert [c.name for c in found.rows] == ["Ann"]
    assert privacy_selectors.customer_lookup(workspace=tenant.workspace, query="a\x00@b.co") is None


def test_a_cursor_whose_offset_overflows_is_a_400(owner_client, tenant):
    with pytest.raises(BadCursor):
        cursor_decode(OVERFLOW_CURSOR)
    customer = make_customer(tenant.workspace)
    ws = tenant.workspace.slug
    for url in (
        reverse("identity:customers", kwargs={"ws": ws}),
        reverse("identity:customer", kwargs={"ws": ws, "pk": customer.pk}),
    ):
        r = owner_client.get(url, {"after": OVERFLOW_CURSOR})
        assert r.status_code == 400
        assert "cursor is not one this API returned" in r.content.decode()


def test_timeline_limit_in_unicode_digits_is_a_400(tenant):
    customer = make_customer(tenant.workspace)
    add_event(customer)
    api = Client(headers={"Authorization": f"Bearer {tenant.secret_key}"})
    r = api.get(f"/api/customers/{customer.pk}/timeline", {"limit": "\u2460"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("limit must be a whole number from 1 to")
    good = api.get(f"/api/customers/{customer.pk}/timeline", {"limit": "5"})
    assert good.status_code == 200
    assert len(good.json()["results"]) == 1


@pytest.mark.parametrize("key", ["sk_\x00", "sk_\u00e9"])
def test_a_secret_key_with_nul_or_non_ascii_is_a_401(tenant, key):
    r = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/customers", {"email": "a@b.co"})
    assert r.status_code == 401
    assert r.json()["error"] == "Unknown secret key."


def test_an_invitation_token_with_nul_is_not_found(db):
    with pytest.raises(Http404):
        invitation_get_pending(token="abc\x00def")
