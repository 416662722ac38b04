"""static/clarm.js in headless Chromium, against a recording Clarm host on another origin."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.snippet.conftest import SNIPPET, WRITE_KEY, Site, stored

pytestmark = pytest.mark.browser

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
GPC = "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(navigator, 'doNotTrack', {get: () => '1'})"


def leaves(value: object) -> Iterator[str]:
    """Every string inside a JSON-like value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield str(value)


def hide_page(page: Page) -> None:
    """What the browser does when the visitor switches tabs or minimises the window."""
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )


def show_page(page: Page) -> None:
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )


def test_page_view_on_load_has_the_contract_fields(site: Site, page: Page) -> None:
    page.goto(site.url())
    (view,) = site.collector.wait_for(lambda: site.collector.named("page_view"))

    assert view["url"] == site.url()
    assert view["properties"] == {"title": "Acme Movers: quotes", "path": "/page.html"}
    assert UUID.match(view["message_id"]) and UUID.match(view["visitor_id"]) and UUID.match(view["session_id"])
    assert datetime.fromisoformat(view["timestamp"]).tzinfo == UTC
    assert abs((datetime.now(UTC) - datetime.fromisoformat(view["timestamp"])).total_seconds()) < 30
    assert view["user_agent"] == page.evaluate("navigator.userAgent")
    assert view["referrer"] == ""
    post = site.collector.posts[0]
    assert post["query"] == {"key": WRITE_KEY}
    assert post["content_type"].startswith("text/plain")
    assert datetime.fromisoformat(post["body"]["sent_at"]).tzinfo == UTC
    # text/plain is a "simple" request: no CORS preflight, so no extra round trip per batch
    assert site.collector.preflights == 0
    # the device id lives in localStorage with a first-party cookie fallback, the session in sessionStorage
    kept = stored(page)
    assert kept["local"]["clarm_vid"] == view["visitor_id"]
    assert f"clarm_vid={view['visitor_id']}" in kept["cookie"]
    assert kept["session"]["clarm_sid"] == view["session_id"]
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "clarm_vid"]
    assert cookie["sameSite"] == "Lax"
    assert 364 * 86400 < cookie["expires"] - time.time() <= 365 * 86400


def test_same_visitor_and_session_across_pages_cookie_fallback(site: Site, page: Page) -> None:
    page.goto(site.url())
    first = site.collector.wait_for(lambda: site.collector.named("page_view"))[0]
    # localStorage cleared (e.g. by a storage cleaner) but the first-party cookie survives
    page.evaluate("localStorage.clear()")
    page.goto(site.url(tall="100"))
    views = site.collector.wait_named("page_view", 2)
    assert views[1]["visitor_id"] == first["visitor_id"]
    assert views[1]["session_id"] == first["session_id"]


def test_new_session_after_thirty_minutes_idle(site: Site, page: Page) -> None:
    page.clock.install()
    page.goto(site.url(auto="false"))
    page.evaluate("ClarmTrack('first')")
    first = site.collector.wait_for(lambda: site.collector.named("first"))[0]
    page.clock.fast_forward("29:00")  # 29 minutes later: the same session
    page.evaluate("ClarmTrack('still_here')")
    same = site.collector.wait_for(lambda: site.collector.named("still_here"))[0]
    assert same["session_id"] == first["session_id"]
    page.clock.fast_forward("31:00")  # 31 minutes without activity: a new session, the same visitor
    page.evaluate("ClarmTrack('back_later')")
    later = site.collector.wait_for(lambda: site.collector.named("back_later"))[0]
    assert later["session_id"] != first["session_id"]
    assert later["visitor_id"] == first["visitor_id"]
    assert page.evaluate("sessionStorage.getItem('clarm_sid')") == later["session_id"]


def test_spa_route_changes_send_one_page_view_per_route(site: Site, page: Page) -> None:
    page.goto(site.url())
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    first_url = page.url

    page.click("#spa-pricing")  # history.pushState
    page.click("#spa-same")  # pushState to the URL we are already on: no new page view
    page.click("#faq")  # in-page hash change
    page.go_back()  # popstate back to /pricing
    views = site.collector.wait_named("page_view", 4)
    time.sleep(1.5)
    views = site.collector.named("page_view")

    pricing = f"{site.page_base}/pricing"
    assert [v["url"] for v in views] == [first_url, pricing, f"{pricing}#faq-section", pricing]
    assert views[1]["referrer"] == first_url  # the previous route
    assert views[1]["properties"]["path"] == "/pricing"
    assert len({v["message_id"] for v in views}) == 4
    # leaving a route reports how it was read
    leaves = site.collector.named("page_leave")
    assert [leave["url"] for leave in leaves] == [first_url, pricing, f"{pricing}#faq-section"]
    assert leaves[0]["properties"]["page_view_id"] == views[0]["message_id"]


def test_page_view_on_replace_state_to_a_new_url(site: Site, page: Page) -> None:
    page.goto(site.url())
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.evaluate("history.replaceState({}, '', '/pricing?plan=growth')")
    views = site.collector.wait_named("page_view", 2)
    assert views[1]["url"] == f"{site.page_base}/pricing?plan=growth"


def test_clicks_on_buttons_and_links(site: Site, page: Page) -> None:
    page.goto(site.url())
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.click("#cta b")  # the click lands on a child element of the button
    (click,) = site.collector.wait_for(lambda: site.collector.named("click"))
    assert click["properties"] == {"tag": "button", "text": "Get a quote", "id": "cta", "classes": "btn btn-cta"}

    page.click("#services-link")  # navigates away: the click goes out with the page-hide beacon
    page.wait_for_url("**/other.html")
    clicks = site.collector.wait_named("click", 2)
    assert clicks[1]["properties"] == {
        "tag": "a",
        "text": "Our services",
        "href": f"{site.page_base}/other.html",
        "id": "services-link",
        "classes": "nav-link primary",
    }


def test_form_submit_identifies_without_reading_secrets(site: Site, page: Page) -> None:
    page.goto(site.url())
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.fill("[name=name]", "Jane Smith")
    page.fill("[name=contact]", "  Jane@Acme.com ")
    page.fill("[name=mobile_number]", "+44 7700 900123")
    page.fill("[name=pw]", "hunter2-secret-pw")
    page.fill("[name=card_number]", "4242424242424242")
    page.fill("[name=security]", "987")
    page.fill("[name=iban]", "GB33BUKB20201555555555")
    page.click("#send")

    (ident,) = site.collector.wait_for(lambda: site.collector.named("identify"))
    assert ident["properties"] == {"name": "Jane Smith", "email": "Jane@Acme.com", "phone": "+44 7700 900123"}
    (form,) = site.collector.named("form_submit")
    assert form["properties"] == {
        "form_id": "quote-form",
        "form_name": "quote",
        "action": f"{site.page_base}/thanks",
        "fields": ["name", "contact", "mobile_number", "pw", "card_number", "security", "iban", "csrf"],
    }
    assert form["visitor_id"] == ident["visitor_id"]

    page.click("#search")  # a form without email or phone: no identify
    site.collector.wait_for(lambda: len(site.collector.named("form_submit")) == 2)
    time.sleep(1.3)
    assert len(site.collector.named("identify")) == 1
    assert site.collector.named("form_submit")[1]["properties"]["fields"] == ["q"]

    # no value of a secret field anywhere: not in any sent string, not on the device
    sent = [v for e in site.collector.events() for v in leaves(e)]
    kept = list(leaves(stored(page)))
    for secret in ("hunter2-secret-pw", "4242424242424242", "GB33BUKB20201555555555", "hidden-token-value", "boxes"):
        assert not [v for v in sent + kept if secret in v]
    assert "987" not in sent + kept  # the CVC (short: compared whole)


def test_scroll_depth_and_visible_time_on_leaving(site: Site, page: Page) -> None:
    page.goto(site.url(tall="3000"))
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight / 2 - window.innerHeight)")
    page.wait_for_timeout(200)
    page.evaluate("window.scrollTo(0, 0)")  # the maximum counts, not the last position
    started = time.monotonic()
    page.wait_for_timeout(1200)
    page.goto(f"{site.page_base}/other.html")  # pagehide: page_leave goes by sendBeacon
    (leave,) = site.collector.wait_for(lambda: site.collector.named("page_leave"))
    assert 48 <= leave["properties"]["scroll_depth"] <= 52
    assert 1200 <= leave["properties"]["visible_ms"] <= (time.monotonic() - started + 2.5) * 1000
    assert leave["properties"]["page_view_id"] == site.collector.named("page_view")[0]["message_id"]


def test_hidden_time_is_not_counted_and_leave_goes_on_hide(site: Site, page: Page) -> None:
    page.goto(site.url(tall="100"))
    site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.wait_for_timeout(300)
    hide_page(page)  # a tab switch: page_leave with what was seen so far
    (leave,) = site.collector.wait_for(lambda: site.collector.named("page_leave"))
    assert leave["properties"]["scroll_depth"] == 100  # the whole page fits the window
    first_visible = leave["properties"]["visible_ms"]
    assert 300 <= first_visible < 2500

    page.wait_for_timeout(2000)  # hidden: not counted
    show_page(page)
    page.wait_for_timeout(300)
    hide_page(page)
    leaves = site.collector.wait_named("page_leave", 2)
    total = leaves[1]["properties"]["visible_ms"]
    assert first_visible + 300 <= total < first_visible + 1500
    assert leaves[1]["properties"]["page_view_id"] == leaves[0]["properties"]["page_view_id"]


def test_calls_made_before_load_are_replayed_in_order(site: Site, page: Page) -> None:
    page.goto(site.url(pre="1"))
    site.collector.wait_for(lambda: site.collector.named("purchase"))
    names = [e["event"] for e in site.collector.events()]
    assert names.index("identify") < names.index("goal_achieved") < names.index("purchase")
    assert site.collector.named("identify")[0]["properties"] == {"email": "early@example.com", "name": "Early Bird"}
    assert site.collector.named("purchase")[0]["properties"] == {"amount": 299, "currency": "USD", "orderId": "ord_123"}
    assert site.collector.named("goal_achieved")[0]["properties"] == {"goal": "demo_booked", "value": 500}
    assert page.evaluate("typeof ClarmTrack.q") == "undefined"  # the stub was replaced by the real API


def test_manual_events_batch_and_widget_hooks(site: Site, page: Page) -> None:
    page.goto(site.url(auto="false"))
    page.evaluate(
        """() => {
            ClarmTrack('click', {element: 'pricing_cta', page: '/pricing'});
            ClarmTrack.widget.opened();
            ClarmTrack.widget.messageSent('my phone is 07700 900123, call me');
            ClarmTrack.widget.closed();
        }"""
    )
    site.collector.wait_for(lambda: site.collector.named("widget_closed"))
    # data-auto="false": no automatic page view; the four calls went out together in one batch
    assert [e["event"] for e in site.collector.events()] == ["click", "widget_opened", "message_sent", "widget_closed"]
    assert len(site.collector.posts) == 1
    assert site.collector.named("message_sent")[0]["properties"] == {}
    assert "07700" not in site.collector.raw()


def test_ten_events_flush_without_waiting_fewer_wait_a_second(site: Site, page: Page) -> None:
    page.clock.install()
    page.goto(site.url(auto="false"))
    page.clock.pause_at(datetime.now(UTC) + timedelta(seconds=5))  # timers only run when the test says so
    page.evaluate("for (let i = 0; i < 9; i++) ClarmTrack('step', {i})")
    time.sleep(1.2)
    assert site.collector.posts == []  # 9 events: waiting for the 1 s timer
    page.evaluate("ClarmTrack('step', {i: 9})")  # the 10th: sent at once
    site.collector.wait_for(lambda: len(site.collector.events()) == 10)
    assert len(site.collector.posts) == 1
    page.evaluate("ClarmTrack('later')")
    time.sleep(1.2)
    assert len(site.collector.posts) == 1
    page.clock.run_for(1000)
    site.collector.wait_named("later", 1)
    assert [p["body"]["batch"][0]["properties"] for p in site.collector.posts] == [{"i": 0}, {}]


def test_retry_with_backoff_keeps_message_ids(site: Site, page: Page) -> None:
    site.collector.statuses = [503, 503]
    page.goto(site.url())
    site.collector.wait_for(lambda: len(site.collector.posts) == 3, timeout=12)
    first, second, third = site.collector.posts
    assert [p["status"] for p in site.collector.posts] == [503, 503, 202]
    # exponential backoff: about 1 s, then about 2 s (with +-20 % jitter)
    assert 0.75 <= second["at"] - first["at"] < 1.9
    assert 1.55 <= third["at"] - second["at"] < 3.2
    ids = [[e["message_id"] for e in p["body"]["batch"]] for p in site.collector.posts]
    assert ids[0] == ids[1] == ids[2][: len(ids[0])]  # the same events again: the server dedupes them
    assert site.collector.named("page_view", delivered_only=True)
    assert page.evaluate("localStorage.getItem('clarm_q')") is None  # delivered: nothing left to send


def test_429_is_retried_but_other_4xx_is_not(site: Site, page: Page) -> None:
    site.collector.statuses = [429, 400]
    page.goto(site.url(auto="false"))
    page.evaluate("ClarmTrack('first')")
    site.collector.wait_for(lambda: len(site.collector.posts) == 2)
    page.evaluate("ClarmTrack('second')")
    site.collector.wait_for(lambda: len(site.collector.posts) == 3)
    page.wait_for_timeout(2500)
    assert [[e["event"] for e in p["body"]["batch"]] for p in site.collector.posts] == [
        ["first"],
        ["first"],  # 429: tried again
        ["second"],  # 400 dropped "first" for good
    ]


def test_retry_after_from_the_server_is_honoured(site: Site, page: Page) -> None:
    site.collector.statuses = [429]
    site.collector.retry_after = "3"
    page.goto(site.url(auto="false"))
    page.evaluate("ClarmTrack('first')")
    site.collector.wait_for(lambda: len(site.collector.posts) == 2, timeout=10)
    first, second = site.collector.posts
    assert second["at"] - first["at"] >= 2.9  # not the 1 s of the first backoff step
    assert second["body"]["batch"][0]["message_id"] == first["body"]["batch"][0]["message_id"]


def test_unsent_events_survive_a_reload(site: Site, page: Page) -> None:
    site.collector.statuses = [503] * 100
    page.goto(site.url())
    site.collector.wait_for(lambda: site.collector.posts)
    page.wait_for_function("(localStorage.getItem('clarm_q') || '').includes('\"f\":1')")
    lost = site.collector.posts[0]["body"]["batch"][0]
    assert lost["event"] == "page_view"

    page.reload()
    site.collector.statuses = []  # the server is back
    site.collector.wait_for(
        lambda: [e for e in site.collector.events(delivered_only=True) if e["message_id"] == lost["message_id"]],
        timeout=12,
    )
    delivered = [e["message_id"] for e in site.collector.named("page_view", delivered_only=True)]
    assert delivered.count(lost["message_id"]) >= 1
    assert len(set(delivered)) == 2  # the first load's view and the reload's view


def test_consent_required_stores_nothing_until_accepted(site: Site, page: Page, context: BrowserContext) -> None:
    page.goto(site.url(consent="required"))
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This site uses first-party analytics to understand visits.")
    accept = banner.get_by_role("button", name="Accept")
    decline = banner.get_by_role("button", name="Decline")
    assert accept.evaluate("e => getComputedStyle(e).cssText || e.style.cssText") == decline.evaluate(
        "e => getComputedStyle(e).cssText || e.style.cssText"
    )
    choices = banner.get_by_role("link", name="Privacy choices")
    assert choices.get_attribute("href") == f"{site.host_base}/privacy/preferences?key={WRITE_KEY}"
    page.screenshot(path="/tmp/shots/banner.png")

    # before a choice: events wait in the page's memory, the form's email too; nothing is stored
    page.fill("[name=contact]", "before@consent.example")
    page.click("#send")
    page.wait_for_timeout(1500)
    assert site.collector.posts == []
    assert stored(page) == {"local": {}, "session": {}, "cookie": ""}
    assert context.cookies() == []

    accept.click()
    expect(banner).to_be_hidden()
    (given,) = site.collector.wait_for(lambda: site.collector.named("consent_given"))
    assert UUID.match(given["visitor_id"])
    # what waited is sent once, now with the ids: the landing page view first, the identity with consent
    sent = site.collector.events()
    assert [e["event"] for e in sent] == ["page_view", "click", "form_submit", "identify", "consent_given"]
    assert {e["visitor_id"] for e in sent} == {given["visitor_id"]}
    assert sent[3]["properties"] == {"email": "before@consent.example"}
    assert given["properties"] == {
        "choice": "granted",
        "version": 1,
        "banner_text": "This site uses first-party analytics to understand visits.",
        "via": "banner",
    }
    # the banner's own buttons are not page clicks
    assert [c["properties"]["text"] for c in site.collector.named("click")] == ["Send"]
    kept = stored(page)
    assert kept["local"]["clarm_vid"] == given["visitor_id"]
    assert '"choice":"granted"' in kept["local"]["clarm_consent"]

    page.click("#cta")
    clicks = site.collector.wait_named("click", 2)
    assert clicks[1]["visitor_id"] == given["visitor_id"]
    # next visit: the choice is remembered, no banner, ids from the first event on
    page.reload()
    views = site.collector.wait_named("page_view", 2)
    assert views[1]["visitor_id"] == given["visitor_id"]
    expect(page.get_by_role("dialog", name="Analytics consent")).to_have_count(0)
    expect(page.get_by_role("button", name="Privacy choices")).to_be_visible()


def test_banner_is_keyboard_usable_and_decline_keeps_only_the_decision(
    site: Site, page: Page, context: BrowserContext
) -> None:
    page.goto(site.url(consent="required"))
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible()
    page.keyboard.press("Tab")  # the banner comes first in the tab order
    expect(banner.get_by_role("button", name="Accept")).to_be_focused()
    page.keyboard.press("Tab")
    expect(banner.get_by_role("button", name="Decline")).to_be_focused()
    page.screenshot(path="/tmp/shots/banner-focus.png")
    page.keyboard.press("Enter")
    expect(banner).to_be_hidden()

    (denied,) = site.collector.wait_for(lambda: site.collector.named("consent_denied"))
    assert "visitor_id" not in denied and denied["properties"]["choice"] == "denied"
    # the only thing kept: the (strictly necessary) record of the refusal
    assert stored(page) == {"local": {}, "session": {}, "cookie": "clarm_consent=denied"}
    assert [c["name"] for c in context.cookies()] == ["clarm_consent"]

    page.reload()
    site.collector.wait_for(lambda: len(site.collector.named("page_view")) == 2)
    expect(page.get_by_role("dialog", name="Analytics consent")).to_have_count(0)
    assert all("visitor_id" not in e for e in site.collector.events())
    # "Privacy" reopens the choices; accepting now starts tracking with an id
    expect(page.get_by_role("button", name="Privacy choices")).to_be_visible()
    page.screenshot(path="/tmp/shots/privacy-link.png")
    page.get_by_role("button", name="Privacy choices").click()
    page.get_by_role("dialog", name="Analytics consent").get_by_role("button", name="Accept").click()
    (given,) = site.collector.wait_for(lambda: site.collector.named("consent_given"))
    assert UUID.match(given["visitor_id"])
    assert [c["name"] for c in context.cookies()] == ["clarm_vid"]


def test_withdrawing_consent_clears_the_device(site: Site, page: Page, context: BrowserContext) -> None:
    page.goto(site.url())
    (view,) = site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.evaluate("ClarmTrack('unsent_before_withdrawal')")
    page.evaluate("ClarmTrack('consent', 'denied')")
    (withdrawn,) = site.collector.wait_for(lambda: site.collector.named("consent_withdrawn"))
    # the last event names the device, so the server can apply the withdrawal to the person
    assert withdrawn["visitor_id"] == view["visitor_id"]
    assert stored(page) == {"local": {}, "session": {}, "cookie": "clarm_consent=denied"}
    assert [c["name"] for c in context.cookies()] == ["clarm_consent"]
    page.evaluate("ClarmTrack('after_withdrawal')")
    (after,) = site.collector.wait_for(lambda: site.collector.named("after_withdrawal"))
    assert "visitor_id" not in after and "session_id" not in after
    assert site.collector.named("unsent_before_withdrawal") == []


def test_optout_sends_one_last_event_then_nothing(site: Site, page: Page, context: BrowserContext) -> None:
    page.goto(site.url())
    (view,) = site.collector.wait_for(lambda: site.collector.named("page_view"))
    page.evaluate("ClarmTrack('optout')")
    (opted,) = site.collector.wait_for(lambda: site.collector.named("opted_out"))
    assert opted["visitor_id"] == view["visitor_id"]
    assert opted["properties"] == {"choice": "optout", "version": 1, "via": "api"}
    count = len(site.collector.events())
    page.evaluate("ClarmTrack('ignored')")
    page.click("#cta")
    page.reload()
    page.wait_for_timeout(1500)
    page.evaluate("ClarmTrack('consent', 'denied')")  # does not turn anonymous counting back on
    page.wait_for_timeout(1300)
    assert len(site.collector.events()) == count
    assert stored(page) == {"local": {}, "session": {}, "cookie": "clarm_consent=optout"}
    # an explicit grant later starts again, as a new device
    page.evaluate("ClarmTrack('consent', 'granted')")
    (given,) = site.collector.wait_named("consent_given", 1)
    assert UUID.match(given["visitor_id"]) and given["visitor_id"] != view["visitor_id"]
    assert "clarm_consent=optout" not in stored(page)["cookie"]


@pytest.mark.parametrize("signal", [GPC, DNT], ids=["global-privacy-control", "do-not-track"])
def test_privacy_signals_send_and_store_nothing(site: Site, page: Page, context: BrowserContext, signal: str) -> None:
    page.add_init_script(signal)
    page.goto(site.url(consent="required", pre="1"))
    page.wait_for_function("typeof ClarmTrack.widget === 'object'")  # the snippet ran
    page.click("#cta")
    page.fill("[name=contact]", "gpc@example.com")
    page.click("#send")
    page.evaluate("ClarmTrack('consent', 'granted'); ClarmTrack('purchase', {amount: 1})")
    page.goto(f"{site.page_base}/other.html")
    page.go_back()
    page.wait_for_timeout(1500)
    assert site.collector.posts == []
    assert site.collector.consent_asks == 0
    assert stored(page) == {"local": {}, "session": {}, "cookie": ""}
    assert context.cookies() == []
    expect(page.get_by_role("dialog", name="Analytics consent")).to_have_count(0)


def test_auto_consent_asks_the_server(site: Site, page: Page) -> None:
    site.collector.consent_answer = (200, {"consent_required": False, "mode": "eu_only"})
    page.goto(site.url(consent="auto"))
    (view,) = site.collector.wait_for(lambda: site.collector.named("page_view"))
    assert UUID.match(view["visitor_id"])
    expect(page.get_by_role("dialog", name="Analytics consent")).to_have_count(0)
    assert site.collector.consent_asks == 1
    page.reload()  # the answer is remembered for the session
    site.collector.wait_for(lambda: len(site.collector.named("page_view")) == 2)
    assert site.collector.consent_asks == 1


@pytest.mark.parametrize(
    "answer",
    [(200, {"consent_required": True, "mode": "always"}), (500, {"error": "boom"}), (404, {})],
    ids=["required", "server-error", "no-endpoint"],
)
def test_auto_consent_shows_the_banner_when_required_or_unknown(
    site: Site, page: Page, context: BrowserContext, answer: tuple[int, dict]
) -> None:
    site.collector.consent_answer = answer
    page.goto(site.url(consent="auto"))
    expect(page.get_by_role("dialog", name="Analytics consent")).to_be_visible()
    hide_page(page)  # no choice made: what waited is counted, without ids, when the page is left
    (view,) = site.collector.wait_for(lambda: site.collector.named("page_view"))
    assert "visitor_id" not in view
    assert stored(page) == {"local": {}, "session": {}, "cookie": ""}
    assert context.cookies() == []


def test_snippet_never_throws_into_the_page(site: Site, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url(pre="1"))
    page.evaluate(
        """() => {
            const circular = {}; circular.self = circular;
            ClarmTrack('weird', circular);
            ClarmTrack(undefined);
            ClarmTrack('consent');
            ClarmTrack.widget.opened();
        }"""
    )
    page.click("#cta")
    page.click("#spa-pricing")
    page.wait_for_timeout(1500)
    assert errors == []
    assert site.collector.named("widget_opened")


def test_gzipped_size_is_under_six_and_a_half_kilobytes() -> None:
    # 6 KB for the snippet, plus the chat widget's loader (about 200 B), which counts against the
    # widget's own budget (tests/snippet/test_widget_e2e.py, docs/agents.md).
    gz = subprocess.run(["gzip", "-9", "-c", str(SNIPPET)], capture_output=True, check=True).stdout
    assert len(gz) < 6.5 * 1024, len(gz)


@pytest.mark.parametrize("choice", ["Accept", "Decline"])
def test_identity_given_before_consent_waits_for_the_choice(site: Site, page: Page, choice: str) -> None:
    # pre=1: the site calls identify (and a goal, a purchase) before the snippet has loaded
    page.goto(site.url(consent="required", pre="1"))
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible()
    page.evaluate("ClarmTrack('identify', {email: 'later@example.com'}); ClarmTrack('lead', {phone: '+447911123456'})")
    page.wait_for_timeout(1500)
    assert site.collector.posts == []  # nothing of the person leaves the page before a choice
    banner.get_by_role("button", name=choice).click()
    site.collector.wait_named("consent_given" if choice == "Accept" else "consent_denied", 1)
    page.wait_for_timeout(300)
    sent = site.collector.events()
    with_identity = [e for e in sent if e["event"] in ("identify", "lead")]
    if choice == "Accept":  # sent once consent is given, with the ids
        emails = [e["properties"].get("email") for e in with_identity]
        assert emails == ["early@example.com", "later@example.com", None]
        assert all(UUID.match(e["visitor_id"]) for e in sent)
    else:  # dropped: the rest is counted without ids
        assert with_identity == []
        raw = site.collector.raw()
        assert "early@example.com" not in raw and "later@example.com" not in raw and "7911123456" not in raw
        assert [e["event"] for e in sent] == ["page_view", "goal_achieved", "purchase", "consent_denied"]
        assert all("visitor_id" not in e for e in sent)


def test_one_form_submit_with_an_email_gives_one_identify(site: Site, page: Page) -> None:
    page.goto(site.url())
    site.collector.wait_named("page_view", 1)
    # what the install page advises: the site's own identify in its submit handler
    page.evaluate(
        """document.getElementById('quote-form').addEventListener('submit', () =>
            ClarmTrack('identify', {email: document.querySelector('[name=contact]').value, company: 'Acme'}))"""
    )
    page.fill("[name=name]", "Jane Smith")
    page.fill("[name=contact]", "Jane@Acme.com")
    page.click("#send")
    (identify,) = site.collector.wait_named("identify", 1)
    assert identify["properties"] == {"email": "Jane@Acme.com", "name": "Jane Smith", "company": "Acme"}
    # the same identity again a moment later (a handler after its own request) adds nothing: not sent
    page.evaluate("ClarmTrack('identify', {email: 'jane@acme.com', company: 'Acme'})")
    page.wait_for_timeout(1500)
    assert len(site.collector.named("identify")) == 1
    # new facts about the person are sent
    page.evaluate("ClarmTrack('identify', {email: 'jane@acme.com', plan: 'pro'})")
    site.collector.wait_named("identify", 2)


def test_the_privacy_choices_link_names_the_visitor_once_there_is_one(site: Site, page: Page) -> None:
    page.goto(site.url(consent="required"))
    banner = page.get_by_role("dialog", name="Analytics consent")
    link = banner.get_by_role("link", name="Privacy choices")
    assert link.get_attribute("href") == f"{site.host_base}/privacy/preferences?key={WRITE_KEY}"
    banner.get_by_role("button", name="Accept").click()
    (given,) = site.collector.wait_named("consent_given", 1)
    page.get_by_role("button", name="Privacy choices").click()
    expect(banner).to_be_visible()
    want = f"{site.host_base}/privacy/preferences?key={WRITE_KEY}&vid={given['visitor_id']}"
    assert link.get_attribute("href") == want
