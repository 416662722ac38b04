"""A business owner in a real browser: sign up, confirm the email, create a workspace, see the keys."""

import os

import pytest
from django.core import mail

from tests.browser import SHOTS
from tests.workspaces.conftest import found
from workspaces.models import Membership, Role, Workspace


@pytest.fixture
def browser_page(chromium_browser):
    return chromium_browser.new_page(viewport={"width": 1280, "height": 900})


@pytest.mark.browser
def test_owner_signs_up_confirms_creates_workspace_and_sees_keys(transactional_db, live_server, browser_page):
    page = browser_page
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Create your workspace").click()
    page.fill("#id_email", "owner@harbor-movers.test")
    page.fill("#id_password1", "a long enough pass phrase 7")
    page.fill("#id_password2", "a long enough pass phrase 7")
    page.screenshot(path=str(SHOTS / "signup.png"), full_page=True)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")

    assert len(mail.outbox) == 1
    link = found(r"https?://\S+/accounts/confirm-email/\S+", mail.outbox[0].body)
    page.goto(live_server.url + "/accounts/confirm-email/" + link.split("/accounts/confirm-email/")[1])
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url("**/app/new/")
    page.fill("#id_name", "Harbor Movers")
    page.select_option("#id_timezone", "America/New_York")
    page.fill("#id_default_country", "us")
    page.screenshot(path=str(SHOTS / "create.png"), full_page=True)
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url("**/install/")
    assert page.get_by_text("Install the Clarm snippet").is_visible()
    page.screenshot(path=str(SHOTS / "install.png"), full_page=True)

    workspace = Workspace.objects.get(name="Harbor Movers")
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER
    assert workspace.timezone == "America/New_York"

    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"**/w/{workspace.slug}/settings/keys/")
    snippet = page.locator("#snippet").inner_text()
    assert "window.ClarmTrack=window.ClarmTrack||function()" in snippet
    assert 'data-key="wk_' in snippet
    page.get_by_role("button", name="Create secret key").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("sk_")
    page.screenshot(path=str(SHOTS / "keys.png"), full_page=True)
    page.goto(page.url)  # a fresh GET of the page: the secret is not shown again
    assert page.locator("#new-secret").count() == 0
    assert secret not in page.content()
    assert os.path.getsize(SHOTS / "keys.png") > 0

    # Invite a colleague: the email leaves after commit.
    page.get_by_role("link", name="Members").click()
    page.fill("#id_email", "crew@harbor-movers.test")
    page.select_option("#id_role", "admin")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text("Invitation sent to crew@harbor-movers.test.").is_visible()
    assert mail.outbox[-1].to == ["crew@harbor-movers.test"]
    page.screenshot(path=str(SHOTS / "members.png"), full_page=True)

    # A bad setting is refused with a message naming it.
    page.get_by_role("link", name="General").click()
    page.fill("#id_retention_months", "500")
    page.fill("#id_allowed_origins", "https://shop.harbor-movers.test/landing")
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_text("Retention must be between 1 and 120 months.").is_visible()
    assert page.get_by_text("use only scheme and host").is_visible()
    page.screenshot(path=str(SHOTS / "settings.png"), full_page=True)
    page.fill("#id_retention_months", "12")
    page.fill("#id_allowed_origins", "https://shop.harbor-movers.test")
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_text("Saved:").is_visible()
    workspace.refresh_from_db()
    assert (workspace.retention_months, workspace.allowed_origins) == (12, ["https://shop.harbor-movers.test"])

    page.get_by_role("link", name="Audit log").click()
    assert page.get_by_text("workspace.settings_changed").is_visible()
    page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
