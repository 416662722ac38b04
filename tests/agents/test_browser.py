"""An owner opens the weekly summary page in Chromium at 1280 and 390 px (axe-core: no serious or
critical violation, no sideways scrolling) and downloads its PDF."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from agents.services import agent_setting_save
from tests.agents.summary_helpers import booked, form, page, paid, rollups, whatsapp_in
from tests.browser import AXE_WIDTHS, SHOTS, axe_serious, overflow, session_sign_in, wide_elements
from tests.factories import make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def harbor():
    """Two days ago Ana came from the spring campaign, booked and paid; Ben asked on WhatsApp about
    storage, which the movers don't sell, and nobody has answered yet."""
    workspace, owner, _, _ = make_workspace("Harbor Movers", timezone_name="Europe/Berlin")
    workspace.summary_recipients = ["owner@harbor.example"]
    workspace.save(update_fields=["summary_recipients"])
    agent_setting_save(workspace=workspace, agent="faq_topics", enabled=True, config={"not_sold": "Storage: storage"})
    at = timezone.now() - datetime.timedelta(days=2)
    page(workspace, "ana", at, "https://harbor.example/quote?utm_source=google&utm_medium=cpc&utm_campaign=spring")
    form(workspace, "ana", at + datetime.timedelta(minutes=3), email="ana@harbor.example", name="Ana Weber")
    booked(workspace, "ana@harbor.example", at + datetime.timedelta(minutes=8))
    paid(workspace, "ana@harbor.example", at + datetime.timedelta(minutes=9), 12000)
    later = at + datetime.timedelta(hours=1)
    form(workspace, "ben", later, email="ben@x.example", name="Ben Roth", phone="+4915112345678")
    whatsapp_in(workspace, "+4915112345678", later + datetime.timedelta(minutes=5), "Do you offer storage?")
    rollups(workspace)
    return workspace, owner


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_owner_reads_the_summary_page(harbor, live_server, chromium_browser, width):
    workspace, owner = harbor
    # bypass_csp: axe is injected as the test's script, not the page's.
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, owner, live_server.url)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/w/{workspace.slug}/summary/")
    assert tab.get_by_role("heading", name="Weekly summary").is_visible()
    for section in ("Wins", "Patterns", "Gaps"):
        assert tab.get_by_role("heading", name=section, exact=True).is_visible()
    assert tab.get_by_text("#1 Ana Weber").is_visible()
    assert "$120.00" in tab.locator("[data-win='Revenue']").inner_text()
    assert "spring" in tab.locator("[data-best-campaign]").inner_text()
    assert tab.locator("[data-unsold='Storage']").is_visible()
    assert tab.get_by_role("link", name="Ben Roth").is_visible()  # waiting for an answer
    assert tab.get_by_text("Europe/Berlin").first.is_visible()
    tab.screenshot(path=str(SHOTS / f"summary-{width}.png"), full_page=True)
    assert overflow(tab) <= 0, f"{overflow(tab)} px wider than {width} px: {wide_elements(tab)}"
    assert axe_serious(tab) == []


def test_owner_downloads_the_pdf(harbor, live_server, chromium_browser):
    workspace, owner = harbor
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    session_sign_in(context, owner, live_server.url)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/w/{workspace.slug}/summary/")
    with tab.expect_download() as download_info:
        tab.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("clarm-summary-harbor-movers-")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
