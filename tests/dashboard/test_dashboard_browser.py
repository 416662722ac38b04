"""The dashboard and the owner's pages in Chromium at 1280 and 390 px: screenshots to look at,
axe-core (npm, package.json) with no serious or critical violation, no sideways overflow."""

import pytest
from django.urls import reverse

from identity.models import Customer
from tests.browser import AXE_WIDTHS, SHOTS, axe_serious, overflow, session_sign_in
from tests.dashboard.test_dashboard import story

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    return tenant


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_dashboard_in_chromium(shop, live_server, chromium_browser, width):
    # bypass_csp: axe is injected as a script of the test, not of the page.
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, shop.owner, live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/app/")  # signing in lands on the dashboard
    assert page.url.endswith(reverse("identity:dashboard", kwargs={"ws": shop.workspace.slug}))
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("svg rect.ch").count() >= 2  # the chart drew today's stacked bar
    assert page.locator("table.funnel tbody tr").count() == 5
    assert page.locator(".kpi-value").first.inner_text() == "3"
    page.screenshot(path=f"{SHOTS}/dashboard-{width}.png", full_page=True)
    assert overflow(page) <= 0
    assert axe_serious(page) == []
    assert errors == []


@pytest.mark.parametrize("name", ["customers", "customer", "audit", "keys", "summary"])
def test_owner_pages_fit_390px_and_pass_axe(shop, live_server, chromium_browser, name):
    ws = shop.workspace.slug
    customer = Customer.objects.get(workspace=shop.workspace, rung=4)
    paths = {
        "customers": reverse("identity:customers", kwargs={"ws": ws}),
        "customer": reverse("identity:customer", kwargs={"ws": ws, "pk": customer.pk}),
        "audit": reverse("workspaces:audit", kwargs={"ws": ws}),
        "keys": reverse("workspaces:keys", kwargs={"ws": ws}),
        "summary": reverse("agents:summary", kwargs={"ws": ws}),
    }
    context = chromium_browser.new_context(viewport={"width": 390, "height": 900}, bypass_csp=True)
    session_sign_in(context, shop.owner, live_server.url)
    page = context.new_page()
    page.goto(live_server.url + paths[name])
    page.screenshot(path=f"{SHOTS}/{name}-390.png", full_page=True)
    assert overflow(page) <= 0, f"{name} is {overflow(page)} px wider than a 390 px screen"
    assert axe_serious(page) == []
