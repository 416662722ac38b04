"""Times in the workspace's zone on every workspace page and on the public preferences page, the
zone named at the foot of each workspace page, and "just now" for recent times (issue 16)."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from identity.privacy.tokens import preferences_token
from identity.templatetags.identity_tags import ago, until
from tests.ui.conftest import client_for, make_customer
from workspaces.models import AuditLog, Role

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2026, 3, 3, 7, 42, 5, tzinfo=datetime.UTC)  # 16:42:05 in Tokyo, 07:42:05 UTC


@pytest.fixture
def tokyo(tenant):
    tenant.workspace.timezone = "Asia/Tokyo"
    tenant.workspace.save()
    return tenant.workspace


def audit_row(workspace):
    return AuditLog.objects.create(workspace=workspace, action="workspace.renamed", created_at=AT)


def test_a_page_without_its_own_zone_tag_shows_the_workspace_zone_and_names_it(tokyo):
    audit_row(tokyo)
    body = client_for(tokyo, Role.OWNER).get(reverse("workspaces:audit", kwargs={"ws": tokyo.slug})).content.decode()
    assert "3 Mar 2026 16:42:05" in body and "07:42:05" not in body
    foot = re.search(r'<footer class="page-foot">(.*?)</footer>', body, re.S)
    assert foot and "Times in Asia/Tokyo (JST)" in foot.group(1)


def test_the_zone_does_not_outlive_its_request(tokyo, other_tenant):
    audit_row(tokyo)
    audit_row(other_tenant.workspace)  # a UTC workspace
    client_for(tokyo, Role.OWNER).get(reverse("workspaces:audit", kwargs={"ws": tokyo.slug}))
    assert timezone.get_current_timezone_name() == "UTC"
    theirs = client_for(other_tenant.workspace, Role.OWNER).get(
        reverse("workspaces:audit", kwargs={"ws": other_tenant.workspace.slug})
    )
    body = theirs.content.decode()
    assert "3 Mar 2026 07:42:05" in body and "Times in UTC" in body
    # A Tokyo member asking for the other workspace gets its 404, not its times.
    outsider = client_for(tokyo, Role.OWNER)
    assert outsider.get(reverse("workspaces:audit", kwargs={"ws": other_tenant.workspace.slug})).status_code == 404


def test_public_preferences_page_shows_the_workspace_zone(tokyo, client):
    customer = make_customer(tokyo, email="kei@example.org", first_seen=AT, last_seen=AT)
    url = reverse("privacy:preferences_token", kwargs={"token": preferences_token(customer)})
    body = client.get(url).content.decode()
    assert "3 Mar 2026, 16:42 JST" in body
    assert timezone.get_current_timezone_name() == "UTC"


def test_ago_and_until_in_words():
    now = timezone.now()
    assert ago(now - datetime.timedelta(seconds=20)) == "just now"
    assert ago(now - datetime.timedelta(minutes=5, seconds=2)) == "5 min ago"
    assert ago(now - datetime.timedelta(hours=3, minutes=1)) == "3 h ago"
    assert ago(now - datetime.timedelta(days=1, hours=1)) == "1 day ago"
    assert ago(now - datetime.timedelta(days=4, hours=1)) == "4 days ago"
    assert ago("not a time") == ""
    assert until(now + datetime.timedelta(minutes=20, seconds=30)) == "in 20 min"
    assert until(now + datetime.timedelta(days=2, hours=1)) == "in 2 days"


def test_customers_list_says_just_now(tenant):
    make_customer(tenant.workspace, name="Fresh", last_seen=timezone.now())
    body = client_for(tenant.workspace).get(reverse("identity:customers", kwargs={"ws": tenant.workspace.slug}))
    assert ">just now</time>" in body.content.decode()
