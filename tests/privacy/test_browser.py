"""The preferences page in headless Chromium: toggle a preference, save, see it applied."""

import re

import pytest
from django.urls import reverse

from identity.models import Customer, Suppression
from identity.privacy.tokens import preferences_token
from tests.browser import SHOTS, session_sign_in
from tests.factories import make_workspace
from tests.privacy.conftest import person_make


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_toggle_a_preference_in_chromium(live_server, chromium_browser):
    workspace, *_ = make_workspace("Acme Movers")
    person = person_make(workspace)
    url = live_server.url + reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    page = chromium_browser.new_page(viewport={"width": 900, "height": 1100})
    page.goto(url)
    assert page.get_by_role("heading", name="Your privacy preferences").is_visible()
    assert page.get_by_text("j***@example.org").is_visible()
    checkbox = page.get_by_label("Marketing email")
    assert checkbox.is_checked()
    checkbox.uncheck()
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_load_state()
    assert page.get_by_text("Your preferences are saved.").is_visible()
    assert not page.get_by_label("Marketing email").is_checked()
    assert page.get_by_label("Analytics tracking of my visits and messages").is_checked()
    page.screenshot(path=str(SHOTS / "preferences.png"), full_page=True)
    customer = Customer.objects.get(pk=person.customer.pk)
    assert not customer.allow_marketing_email and customer.allow_analytics
    assert Suppression.objects.filter(workspace=workspace, marketing_email=True).count() == 4


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_workspace_privacy_page_in_chromium(live_server, chromium_browser):
    from identity.privacy.retention import retention_purge
    from identity.privacy.services import dsr_create

    workspace, owner, _, _ = make_workspace("Acme Movers")
    person = person_make(workspace)
    dsr_create(workspace=workspace, customer=person.customer, kind="export", via="preferences")
    retention_purge(workspace=workspace)
    context = chromium_browser.new_context(viewport={"width": 1200, "height": 1000})
    session_sign_in(context, owner, live_server.url)
    page = context.new_page()
    page.goto(f"{live_server.url}/w/{workspace.slug}/privacy/?q=jane.doe%40example.org")
    assert page.get_by_role("heading", name="Data-subject requests").is_visible()
    assert page.get_by_role("button", name="Erase everything about them").is_visible()
    page.get_by_role("button", name="Start export").click()
    page.wait_for_load_state()
    page.screenshot(path=str(SHOTS / "privacy_workspace.png"), full_page=True)
    assert page.get_by_text(re.compile(r"Export \d+ started")).is_visible()
    assert page.get_by_role("link", name=re.compile(r"Download \(")).is_visible()
