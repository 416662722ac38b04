"""First workspace, home redirect, switching, the install empty state and its include."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from tests.factories import make_workspace
from tests.workspaces.conftest import verified_user
from workspaces.models import Membership, Role, Workspace
from workspaces.selectors import write_key_current

pytestmark = pytest.mark.django_db


def test_home_sends_new_user_to_create_and_member_to_first_workspace(client):
    user = verified_user()
    client.force_login(user)
    assert client.get(reverse("workspaces:home"))["Location"] == reverse("workspaces:create")
    zeta, *_ = make_workspace("Zeta Plumbing", owner=user)
    alpha, *_ = make_workspace("Alpha Cleaning", owner=user)
    # The dashboard is the workspace's home (DESIGN).
    assert client.get(reverse("workspaces:home"))["Location"] == reverse(
        "identity:dashboard", kwargs={"ws": alpha.slug}
    )
    assert zeta.slug != alpha.slug


def test_create_form_rejects_bad_input_with_clear_messages(client):
    client.force_login(verified_user())
    response = client.post(
        reverse("workspaces:create"),
        {"name": "  ", "timezone": "Mars/Olympus", "default_country": "XX", "region": "moon"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required." in body or "A workspace needs a name." in body
    assert "“Mars/Olympus” is not a known time zone" in body
    assert "“XX” is not a two-letter ISO 3166 country code" in body
    assert "moon" in body and "not one of the available choices" in body
    assert Workspace.objects.count() == 0


def test_create_form_offers_regions_from_settings_with_default(client, settings):
    settings.CLARM_REGION = "us"
    client.force_login(verified_user())
    body = client.get(reverse("workspaces:create")).content.decode()
    for region in settings.CLARM_REGIONS:
        assert f'value="{region}"' in body
    assert '<option value="us" selected>' in body


def test_creating_a_second_workspace_and_switching(client, tenant):
    client.force_login(tenant.owner)
    page = client.get(reverse("identity:customers", kwargs={"ws": tenant.workspace.slug})).content.decode()
    assert reverse("workspaces:create") in page  # "New workspace…" in the switcher
    client.post(
        reverse("workspaces:create"),
        {"name": "Second Shop", "timezone": "UTC", "default_country": "US", "region": "eu"},
    )
    second = Workspace.objects.get(name="Second Shop")
    page = client.get(reverse("identity:customers", kwargs={"ws": second.slug})).content.decode()
    # The switcher leads to each workspace's home, its dashboard.
    assert reverse("identity:dashboard", kwargs={"ws": tenant.workspace.slug}) in page
    assert reverse("identity:dashboard", kwargs={"ws": second.slug}) in page
    assert Membership.objects.filter(user=tenant.owner, role=Role.OWNER).count() == 2


def test_install_page_shows_the_exact_snippet(client, tenant, settings):
    client.force_login(tenant.owner)
    body = client.get(reverse("workspaces:install", kwargs={"ws": tenant.workspace.slug})).content.decode()
    base = settings.CLARM_PUBLIC_URL
    expected = (
        "&lt;script&gt;window.ClarmTrack=window.ClarmTrack||function(){(window.ClarmTrack.q=window.ClarmTrack.q||[])"
        ".push(arguments)};&lt;/script&gt;"
        f"&lt;script async src=&quot;{base}/static/clarm.js&quot; data-key=&quot;{tenant.write_key}&quot; "
        f"data-host=&quot;{base}&quot;&gt;&lt;/script&gt;"
    )
    assert expected in body


def test_install_snippet_include_uses_the_current_write_key(tenant, settings):
    template = Template('{% include "workspaces/_install_snippet.html" %}')
    html = template.render(Context({"current_workspace": tenant.workspace}))
    assert f"data-key=&quot;{tenant.write_key}&quot;" in html
    assert f"{settings.CLARM_PUBLIC_URL}/static/clarm.js" in html
    # No workspace → nothing broken, no snippet.
    assert "data-key" not in Template('{% include "workspaces/_install_snippet.html" %}').render(Context({}))
    current = write_key_current(workspace=tenant.workspace)
    assert current is not None and current.lookup == tenant.write_key


def test_anonymous_user_is_sent_to_login(client, tenant):
    for name in ("workspaces:settings", "workspaces:members", "workspaces:keys", "workspaces:audit"):
        response = client.get(reverse(name, kwargs={"ws": tenant.workspace.slug}))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    assert "/accounts/login/" in client.get(reverse("workspaces:create"))["Location"]
