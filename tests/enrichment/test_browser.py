"""The Visitors page and the customer's intent card in a real browser."""

from pathlib import Path

import pytest

from identity.models import Customer
from tests.browser import SHOTS, session_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitors_page_and_intent_card(live_server, tenant, chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 1000})
    session_sign_in(context, tenant.owner, live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for path in ("/pricing", "/pricing", "/demo"):
        response = page.request.post(
            f"{live_server.url}/api/track",
            headers={"X-Clarm-Key": tenant.write_key, "Content-Type": "application/json"},
            data={"event": "page_view", "visitor_id": "browser-visitor", "url": f"https://acme.test{path}"},
        )
        assert response.status == 202
    customer = Customer.objects.get()
    # The live server's requests come from 127.0.0.1 (no network, no company); give it one.
    Customer.objects.filter(pk=customer.pk).update(
        company_profile={"name": "Heise Medien", "domain": "heise.de", "enterprise_score": 40, "source": "ipinfo"}
    )
    ws = tenant.workspace.slug
    page.goto(f"{live_server.url}/w/{ws}/visitors/")
    group = page.locator("section.company")
    assert group.count() == 1 and "Heise Medien" in group.locator("h2").inner_text()
    row = group.locator("tbody tr")
    assert row.locator(".score").inner_text() == str(Customer.objects.get().intent_score) == "24"
    page.screenshot(path=f"{SHOTS}/visitors.png", full_page=True)
    with page.expect_download() as download:
        page.click("#csv-export")
    assert "Heise Medien" in Path(download.value.path()).read_text()
    page.click(f"a[href='/w/{ws}/customers/{customer.pk}/']")
    card = page.locator("#intent")
    assert "pricing ×2: +16" in card.inner_text() and "demo: +8" in card.inner_text()
    assert errors == []
