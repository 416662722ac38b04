"""Staff find customers and merges in the Django admin and undo a merge there."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from identity.models import Customer, CustomerStatus, MergeLog
from tests.factories import UserFactory
from tests.identity.helpers import send, state

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def staff(client, db):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def _merged(ws):
    send(ws, at=T, device="dev-admin", traits={"name": "Dana Admin"})
    send(ws, at=T + timedelta(minutes=1), source="email", email="dana@example.com")
    before = state(ws)
    send(ws, at=T - timedelta(minutes=5), source="email", device="dev-admin", email="dana@example.com")
    return before, MergeLog.objects.get(workspace=ws)


def test_customer_list_search_and_detail(staff, tenant):
    ws = tenant.workspace
    _merged(ws)
    live = Customer.objects.get(workspace=ws, status=CustomerStatus.LIVE)
    page = staff.get(reverse("admin:identity_customer_changelist"), {"q": "d***@example.com"})
    assert page.status_code == 200 and "dana@example.com" in page.content.decode()
    page = staff.get(reverse("admin:identity_customer_changelist"), {"rung__exact": "2", "status__exact": "live"})
    assert "dana@example.com" in page.content.decode()
    detail = staff.get(reverse("admin:identity_customer_change", args=[live.pk])).content.decode()
    assert "d***@example.com" in detail and "dev-…" in detail  # identifiers inline, masked
    assert 'class="readonly">3<' in detail  # event count


def test_merge_log_shows_what_moved_and_undo_restores(staff, tenant):
    ws = tenant.workspace
    before, log = _merged(ws)
    detail = staff.get(reverse("admin:identity_mergelog_change", args=[log.pk])).content.decode()
    assert "Events moved" in detail and "Undo this merge" in detail and "Dana Admin" in detail
    confirm = staff.get(reverse("admin:identity_mergelog_undo", args=[log.pk]))
    assert confirm.status_code == 200 and "Yes, undo it" in confirm.content.decode()
    assert MergeLog.objects.get(pk=log.pk).undone_at is None  # a GET changes nothing
    done = staff.post(reverse("admin:identity_mergelog_undo", args=[log.pk]), follow=True)
    assert "undone" in done.content.decode()
    after = state(ws)
    after["events"] = after["events"][:-1]  # the event that caused the merge stays with the survivor
    for c in after["live_customers"]:
        c["first_seen"] = next(b["first_seen"] for b in before["live_customers"] if b["id"] == c["id"])
    assert after == before
    again = staff.post(reverse("admin:identity_mergelog_undo", args=[log.pk]), follow=True)
    assert "already undone" in again.content.decode()


def test_undo_action_reports_refusals(staff, tenant):
    ws = tenant.workspace
    _, log = _merged(ws)
    response = staff.post(
        reverse("admin:identity_mergelog_changelist"),
        {"action": "undo_selected", "_selected_action": [log.pk]},
        follow=True,
    )
    assert f"#{log.pk} undone." in response.content.decode()
    response = staff.post(
        reverse("admin:identity_mergelog_changelist"),
        {"action": "undo_selected", "_selected_action": [log.pk]},
        follow=True,
    )
    assert "already undone" in response.content.decode()


def test_non_staff_cannot_reach_the_undo_page(client, tenant):
    _, log = _merged(tenant.workspace)
    client.force_login(tenant.owner)
    response = client.post(reverse("admin:identity_mergelog_undo", args=[log.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert MergeLog.objects.get(pk=log.pk).undone_at is None


def test_identifier_and_suppression_lists_render(staff, tenant):
    _merged(tenant.workspace)
    assert staff.get(reverse("admin:identity_identifier_changelist"), {"kind__exact": "email"}).status_code == 200
    assert staff.get(reverse("admin:identity_suppression_changelist")).status_code == 200
