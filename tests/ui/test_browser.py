"""The workspace pages in a real browser: demo data loaded, the ledger read, the live feed updating."""

import json

import pytest

from clarm.demo.loading import demo_data_load
from identity.models import Identifier
from tests.browser import SHOTS, session_sign_in
from tracking.normalize import claims_from_values

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(live_server, tenant, chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 1000})
    session_sign_in(context, tenant.owner, live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert errors == []


def test_demo_journey_in_the_browser(browser_page, live_server, tenant):
    page = browser_page
    tenant.workspace.timezone = "America/Los_Angeles"
    tenant.workspace.save()
    assert demo_data_load(workspace=tenant.workspace, write_key=tenant.write_key, people=0).problems == []
    claim = claims_from_values(tenant.workspace, email="marcus.hill@example.com").claims[0]
    marcus = Identifier.objects.get(workspace=tenant.workspace, value_hash=claim.value_hash).customer
    ws = tenant.workspace.slug

    page.goto(f"{live_server.url}/w/{ws}/customers/")
    assert page.locator("table.list tbody tr").count() == 2
    assert page.locator(".ladder-chart a[data-rung='4'] .count").inner_text() == "2"
    page.screenshot(path=f"{SHOTS}/customers.png", full_page=True)

    page.click(f"a[href='/w/{ws}/customers/{marcus.pk}/']")
    page.wait_for_selector("ol.ledger")
    rows = page.locator("ol.ledger > li")
    assert rows.count() == 15
    assert rows.nth(0).locator(".rel").inner_text() == "T+0"
    assert "Views /" in rows.nth(0).inner_text()
    assert "Reached rung 4: account" in rows.nth(9).inner_text()
    assert "Stripe payment received: $50.00" in rows.nth(9).inner_text()
    assert page.locator("ol.rungs li.on").count() == 5
    page.screenshot(path=f"{SHOTS}/customer.png", full_page=True)

    page.goto(f"{live_server.url}/w/{ws}/live/")
    before = page.locator("#live-rows tr").count()
    body = {
        "event": "page_view",
        "visitor_id": "demo-marcus-device",
        "url": "https://demo-movers.example/contact",
        "message_id": "browser-live-1",
    }
    page.request.post(
        f"{live_server.url}/api/track",
        data=json.dumps(body),
        headers={"X-Clarm-Key": tenant.write_key, "Content-Type": "application/json"},
    )
    page.wait_for_selector("#live-rows tr.fresh", timeout=8000)
    first = page.locator("#live-rows tr").first
    assert "Views /contact" in first.inner_text() and "Marcus Hill" in first.inner_text()
    assert page.locator("#live-rows tr").count() == before + 1
    page.screenshot(path=f"{SHOTS}/live.png", full_page=True)
