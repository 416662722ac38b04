"""An owner opens the weekly summary page in a real browser and downloads its PDF."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from tests.agents.conftest import make_customer, make_event
from tests.browser import SHOTS, session_sign_in
from tests.factories import make_workspace


@pytest.mark.browser
def test_owner_reads_the_summary_page_and_downloads_the_pdf(transactional_db, live_server, chromium_browser):
    workspace, owner, _, _ = make_workspace("Harbor Movers", timezone_name="Europe/Berlin")
    workspace.summary_recipients = ["owner@harbor.example"]
    workspace.save(update_fields=["summary_recipients"])
    two_days_ago = timezone.now() - datetime.timedelta(days=2)
    ana = make_customer(workspace, first_seen=two_days_ago, rung=4, number=1, name="Ana Weber")
    make_event(
        workspace,
        at=two_days_ago,
        customer=ana,
        url="https://harbor.example/quote?utm_campaign=spring",
        campaign="spring",
    )
    make_event(workspace, at=two_days_ago, customer=ana, event="payment_succeeded", source="webhook", rung=4)
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    session_sign_in(context, owner, live_server.url)
    page = context.new_page()
    page.goto(f"{live_server.url}/w/{workspace.slug}/summary/")
    assert page.get_by_role("heading", name="Weekly summary").is_visible()
    assert page.get_by_text("#1 Ana Weber").is_visible()
    assert page.get_by_text("harbor.example/quote").is_visible()
    assert page.get_by_text("Europe/Berlin").first.is_visible()
    page.screenshot(path=str(SHOTS / "summary-page.png"), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith("clarm-summary-harbor-movers-")
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
