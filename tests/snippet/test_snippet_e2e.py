"""The snippet against the real `POST /api/track` and `GET /api/consent`: events land in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, expect

from identity.models import Customer
from tests.browser import desktop_context
from tests.snippet.conftest import Site
from tracking.models import Event
from workspaces.models import Workspace

pytestmark = pytest.mark.browser


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
    context = desktop_context(browser)
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


def test_first_touch_survives_the_banner_and_identity_waits_for_consent(
    site: Site, browser: Browser, live_server, tenant, client
) -> None:
    ws = tenant.workspace
    Workspace.objects.filter(pk=ws.pk).update(consent_mode="always")
    context = desktop_context(browser)
    page = context.new_page()
    landing = site.url(
        consent="auto", host=live_server.url, key=tenant.write_key, utm_source="instagram", utm_campaign="xmas"
    )
    page.goto(landing, referer="https://l.instagram.com/")
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible()
    page.evaluate("ClarmTrack('identify', {email: 'ivy@example.com', name: 'Ivy'})")
    page.wait_for_timeout(1500)
    # before consent nothing of the person reaches the server, and nothing is kept on the device
    assert not Event.objects.filter(workspace=ws).exists() and not Customer.objects.filter(workspace=ws).exists()
    assert context.cookies() == []

    banner.get_by_role("button", name="Accept").click()
    wait_for(lambda: Event.objects.filter(workspace=ws, event="consent_given").exists())
    stored = events(ws)
    assert [e.event for e in stored] == ["page_view", "identify", "consent_given"]
    customer = stored[0].customer
    assert customer is not None and customer.email == "ivy@example.com"
    assert {e.customer_id for e in stored} == {customer.pk}
    first = stored[0]  # the landing page view opens the timeline, with where the visitor came from
    assert first.context["url"] == landing and first.context["referrer"] == "https://l.instagram.com/"
    assert first.context["attribution"] == {"utm_source": "instagram", "utm_campaign": "xmas"}
    assert customer.first_seen == first.occurred_at
    context.close()
    # the customer's page opens the timeline with that first touch
    client.force_login(tenant.owner)
    html = client.get(reverse("identity:customer", kwargs={"ws": ws.slug, "pk": customer.pk})).content.decode()
    assert "From l.instagram.com" in html and "UTM instagram / xmas" in html


def test_declining_counts_the_visit_and_drops_the_identity(site: Site, browser: Browser, live_server, tenant) -> None:
    ws = tenant.workspace
    Workspace.objects.filter(pk=ws.pk).update(consent_mode="always")
    context = desktop_context(browser)
    page = context.new_page()
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    page.evaluate("ClarmTrack('identify', {email: 'max@example.com'})")
    page.get_by_role("dialog", name="Analytics consent").get_by_role("button", name="Decline").click()
    wait_for(lambda: Event.objects.filter(workspace=ws, event="consent_denied").exists())
    stored = events(ws)
    assert [e.event for e in stored] == ["page_view", "consent_denied"]
    assert all(e.customer_id is None and e.device_hash == "" for e in stored)  # counted, not stitched
    assert not Customer.objects.filter(workspace=ws).exists()
    context.close()


@pytest.mark.parametrize("call", ["ClarmTrack('optout')", "ClarmTrack('consent', 'denied')"])
def test_every_opt_out_the_snippet_can_express_is_honoured_within_a_second(
    site: Site, browser: Browser, live_server, tenant, client, call: str
) -> None:
    ws = tenant.workspace
    Workspace.objects.filter(pk=ws.pk).update(consent_mode="never")
    context = desktop_context(browser)
    page = context.new_page()
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    page.evaluate("ClarmTrack('identify', {email: 'nel@example.com'})")
    customer = wait_for(lambda: Customer.objects.filter(workspace=ws, email="nel@example.com").first())
    started = time.monotonic()
    page.evaluate(call)
    wait_for(lambda: not Customer.objects.get(pk=customer.pk).allow_analytics, timeout=5)
    assert time.monotonic() - started < 1.0
    # from then on every write-key event of the person is refused, whatever source it names
    r = client.post(
        "/api/track",
        data={"event": "quote_sent", "source": "agent", "email": "nel@example.com", "message_id": "after"},
        content_type="application/json",
        HTTP_X_CLARM_KEY=tenant.write_key,
    )
    assert r.status_code == 202 and not Event.objects.filter(workspace=ws, message_id="after").exists()
    context.close()


def test_the_banners_privacy_choices_link_opens_the_visitors_page(
    site: Site, browser: Browser, live_server, tenant
) -> None:
    Workspace.objects.filter(pk=tenant.workspace.pk).update(consent_mode="always")
    context = desktop_context(browser)
    page = context.new_page()
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    banner = page.get_by_role("dialog", name="Analytics consent")
    before = page.request.get(banner.get_by_role("link", name="Privacy choices").get_attribute("href") or "")
    assert before.status == 200 and "no visitor id" in before.text()
    banner.get_by_role("button", name="Accept").click()
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="consent_given").exists())
    page.get_by_role("button", name="Privacy choices").click()
    after = page.request.get(banner.get_by_role("link", name="Privacy choices").get_attribute("href") or "")
    assert after.status == 200 and "from this device" in after.text()
    context.close()


def test_a_form_with_the_sites_own_identify_stores_one_identify(
    site: Site, browser: Browser, live_server, tenant
) -> None:
    Workspace.objects.filter(pk=tenant.workspace.pk).update(consent_mode="never")
    context = desktop_context(browser)
    page = context.new_page()
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="page_view").exists())
    page.evaluate(
        """document.getElementById('quote-form').addEventListener('submit', () =>
            ClarmTrack('identify', {email: document.querySelector('[name=contact]').value, company: 'Acme'}))"""
    )
    page.fill("[name=contact]", "oli@example.com")
    page.click("#send")
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="form_submit").exists())
    page.wait_for_timeout(1200)
    (identify,) = Event.objects.filter(workspace=tenant.workspace, event="identify")
    assert identify.customer is not None and identify.customer.company == "Acme"
    context.close()
