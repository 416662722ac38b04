import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.ui.conftest import add_event, make_customer

pytestmark = pytest.mark.django_db


def feed(tenant, after=None):
    url = reverse("identity:live_events", kwargs={"ws": tenant.workspace.slug})
    return url + (f"?after={after}" if after is not None else "")


def test_live_page_renders_latest_events_and_poller(member_client, tenant):
    c = make_customer(tenant.workspace, name="Live Lee", rung=2)
    add_event(c, event="form_submit", properties={"form": "quote", "email": "lee@example.com"})
    response = member_client.get(reverse("identity:live", kwargs={"ws": tenant.workspace.slug}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Submits quote form: email captured" in body
    assert "Live Lee" in body
    assert "js/live.js" in body and 'id="live-latest"' in body


def test_feed_returns_only_events_received_after_the_given_one_newest_first(member_client, tenant):
    now = timezone.now()
    c = make_customer(tenant.workspace, name="Feed Fay", rung=3)
    old = add_event(c, at=now - datetime.timedelta(seconds=30))
    seen = add_event(c, at=now - datetime.timedelta(seconds=20))
    new1 = add_event(
        c,
        event="message_in",
        source="channel",
        properties={"channel": "whatsapp"},
        at=now - datetime.timedelta(seconds=10),
    )
    new2 = add_event(c, event="lead_qualified", source="agent", at=now)
    data = member_client.get(feed(tenant, seen.pk)).json()
    assert [e["id"] for e in data["events"]] == [new2.pk, new1.pk]
    assert data["latest"] == new2.pk
    first = data["events"][1]
    assert first["title"] == "WhatsApp message in"
    assert first["source"] == "channel" and first["rung"] == 3 and first["rung_name"] == "phone"
    assert first["customer"]["label"] == "Feed Fay"
    assert first["customer"]["url"] == reverse("identity:customer", kwargs={"ws": tenant.workspace.slug, "pk": c.pk})
    # Nothing newer: empty list, the cursor stays.
    assert member_client.get(feed(tenant, new2.pk)).json() == {"events": [], "latest": new2.pk}
    # Without `after`: the newest events, newest first.
    assert [e["id"] for e in member_client.get(feed(tenant)).json()["events"]] == [new2.pk, new1.pk, seen.pk, old.pk]


def test_feed_caps_at_fifty_and_skips_bots_and_shows_unstitched(member_client, tenant):
    now = timezone.now()
    for i in range(60):
        add_event(None, workspace=tenant.workspace, at=now + datetime.timedelta(milliseconds=i))
    add_event(None, workspace=tenant.workspace, at=now + datetime.timedelta(seconds=5), is_bot=True)
    data = member_client.get(feed(tenant)).json()
    assert len(data["events"]) == 50
    assert all(e["customer"] is None for e in data["events"])
    received = [e["received_at"] for e in data["events"]]
    assert received == sorted(received, reverse=True)


def test_feed_rejects_a_bad_after(member_client, tenant):
    response = member_client.get(feed(tenant, "abc"))
    assert response.status_code == 400
    assert "after must be an event id" in response.json()["error"]


def test_feed_time_is_in_workspace_zone(member_client, tenant):
    tenant.workspace.timezone = "Asia/Tokyo"
    tenant.workspace.save()
    at = datetime.datetime(2026, 1, 5, 23, 30, tzinfo=datetime.UTC)
    add_event(None, workspace=tenant.workspace, at=at)
    assert member_client.get(feed(tenant)).json()["events"][0]["time"] == "Jan 6, 08:30:00"


def test_feed_of_another_workspace_is_404(member_client, tenant, other_tenant):
    add_event(None, workspace=other_tenant.workspace)
    url = reverse("identity:live_events", kwargs={"ws": other_tenant.workspace.slug})
    assert member_client.get(url).status_code == 404
    assert member_client.get(reverse("identity:live", kwargs={"ws": other_tenant.workspace.slug})).status_code == 404
