"""The snippet against the real `POST /api/track` and `GET /api/consent`: events land in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.snippet.conftest import Site
from tracking.models import Event
from workspaces.models import Workspace

pytestmark = pytest.mark.browser

# A desktop Chrome: headless Chromium's own user agent is (rightly) counted as a bot, never stitched.
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"


@pytest.fixture(autouse=True, scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API keeps an asyncio loop on this thread (driven through greenlets), which
    # trips Django's async-safety guard although no ORM call runs inside that loop. Module scope, so
    # it wraps the database fixtures' setup and teardown (flush), and only this module's tests.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def events(workspace: Workspace) -> list[Event]:
    return list(Event.objects.filter(workspace=workspace).order_by("occurred_at", "id"))


def test_visit_form_and_leave_are_stored_and_stitched(site: Site, browser: Browser, live_server, tenant) -> None:
    Workspace.objects.filter(pk=tenant.workspace.pk).update(consent_mode="never")
    context = browser.new_context(user_agent=CHROME)
    page = context.new_page()
    # the business's site on its own origin; clarm.js, /api/consent and /api/track from the Clarm server
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="page_view").exists())
    page.click("#cta")
    page.fill("[name=name]", "Jane Smith")
    page.fill("[name=contact]", "Jane@Acme.com")
    page.fill("[name=mobile_number]", "+44 7700 900123")
    page.fill("[name=pw]", "hunter2-secret-pw")
    page.click("#send")
    page.goto(f"{site.page_base}/other.html")  # page_leave by sendBeacon
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="page_leave").exists())
    context.close()

    stored = events(tenant.workspace)
    seen = [(e.event, e.occurred_at.isoformat(), e.customer_id, e.context.get("notes")) for e in stored]
    assert [e.event for e in stored] == ["page_view", "click", "click", "form_submit", "identify", "page_leave"], seen
    assert site.collector.posts == []  # nothing went to the fake host
    assert len({e.session_id for e in stored}) == 1 and stored[0].session_id
    assert len({e.device_hash for e in stored}) == 1 and stored[0].device_hash
    assert all(e.source == "web" and e.message_id for e in stored)
    assert stored[1].properties["text"] == "Get a quote"
    assert stored[-1].properties["scroll_depth"] > 0
    # one person: the visit before the form is stitched onto the customer the form identified
    customer = stored[4].customer
    assert customer is not None and customer.email == "jane@acme.com"
    assert {e.customer_id for e in stored} == {customer.pk}, seen
    assert all("hunter2" not in str(e.properties) + str(e.context) for e in stored)


def test_consent_required_by_the_workspace_then_accepted(site: Site, browser: Browser, live_server, tenant) -> None:
    Workspace.objects.filter(pk=tenant.workspace.pk).update(consent_mode="always")
    context = browser.new_context(user_agent=CHROME)
    page = context.new_page()
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible()
    before = wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="page_view").first())
    assert before.device_hash == "" and before.customer_id is None  # counted, not stitched
    assert context.cookies() == []

    banner.get_by_role("button", name="Accept").click()
    given = wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="consent_given").first())
    assert given.device_hash
    assert given.properties["choice"] == "granted"
    context.close()
