"""The real browser SDKs, from npm (package.json at the repo root), deliver to a live Clarm from a
page on another origin: RudderStack's JS SDK v3 (its preflight asks for `SentAt`, `AnonymousId`,
Basic auth and, on retries, its `Rsa-*` headers) and Segment's analytics.js (analytics-next).
Neither may need anything from the internet (a CDN, a control plane): such a request fails the test."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import OperationalError
from playwright.sync_api import Browser, Page, Request

from identity.models import Customer
from tests.browser import desktop_context
from tracking import views
from tracking.models import Event
from tracking.writekeys import write_keys_forget

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "sdk_pages"
BUNDLES = {
    "/sdk/rudderstack.js": REPO / "node_modules/@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js",
}
SEGMENT_DIR = REPO / "node_modules/@segment/analytics-next/dist/umd"


@dataclass
class SdkSite:
    base: str
    requests: list[str]


def _handler(host: str, base: list[str], key: str, requests: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            requests.append(path)
            body, ctype = b"not found", "text/plain"
            status = 404
            if path.endswith(".html") and (PAGES / path.lstrip("/")).is_file():
                text = (PAGES / path.lstrip("/")).read_text()
                replaced = {"{{KEY}}": key, "{{HOST}}": host, "{{HOST_NO_SCHEME}}": host.split("://", 1)[1]}
                replaced["{{PAGE}}"] = base[0]
                for mark, value in replaced.items():
                    text = text.replace(mark, value)
                status, body, ctype = 200, text.encode(), "text/html"
            elif path in BUNDLES:
                status, body, ctype = 200, BUNDLES[path].read_bytes(), "application/javascript"
            elif path.startswith("/sdk/analytics-next/"):
                # analytics-next loads its lazy chunks next to itself (`cdnURL` + /analytics-next/bundles/).
                name = path.rsplit("/", 1)[1]
                found = SEGMENT_DIR / name
                if found.is_file() and found.suffix == ".js":
                    status, body, ctype = 200, found.read_bytes(), "application/javascript"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def sdk_site(live_server, tenant) -> Iterator[SdkSite]:
    """The business's site: serves the test pages and the SDK bundles from node_modules."""
    missing = [str(p) for p in (*BUNDLES.values(), SEGMENT_DIR / "index.js") if not p.is_file()]
    assert not missing, f"npm packages not installed (scripts/node-deps.sh runs npm ci): {missing}"
    base: list[str] = []
    requests: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(live_server.url, base, tenant.write_key, requests))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base.append(f"http://127.0.0.1:{server.server_address[1]}")
    # Only this site may send events: the check runs on every request from the SDKs.
    tenant.workspace.allowed_origins = [base[0]]
    tenant.workspace.save()
    write_keys_forget()
    yield SdkSite(base[0], requests)
    server.shutdown()
    server.server_close()


@dataclass
class Opened:
    page: Page
    outside: list[str]  # requests to anywhere else than the two servers (a CDN, a control plane)
    errors: list[str]  # console errors and warnings, failed requests
    posts: list[dict[str, str]]  # the headers of every POST the SDK sent to Clarm


def _open(browser: Browser, url: str, *, site: str, clarm: str) -> Opened:
    """`url` in a fresh browser context, recording what the page asks of anyone else than `site`
    and `clarm`. Nothing is routed: Playwright answers the CORS preflights of a context with routes
    itself, and then Clarm's own preflight answers would not be what the browser obeys."""
    context = desktop_context(browser)  # headless Chromium's own agent is flagged as a bot
    opened = Opened(page=context.new_page(), outside=[], errors=[], posts=[])
    page = opened.page

    def request(r: Request) -> None:
        if not r.url.startswith((site, clarm)):
            opened.outside.append(r.url)
        elif r.method == "POST" and r.url.startswith(clarm):
            opened.posts.append(r.all_headers())

    page.on("request", request)
    page.on(
        "console", lambda m: opened.errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("requestfailed", lambda r: opened.errors.append(f"failed: {r.method} {r.url} {r.failure}"))
    page.goto(url)
    return opened


@pytest.fixture
def storage_busy_once(monkeypatch) -> list[int]:
    """The first ingest answers 503 "storage is busy" (as when PostgreSQL is failing over): the
    SDK must retry, with its retry headers."""
    calls: list[int] = []
    real = views.events_ingest

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database system is in recovery mode")
        return real(**kwargs)

    monkeypatch.setattr(views, "events_ingest", flaky)
    return calls


def _wait_events(page: Page, count: int, errors: list[str], timeout: float = 30.0) -> list[Event]:
    """Waits on the page (the sync API runs the page's event handlers only while a Playwright call runs)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events = list(Event.objects.order_by("id"))
        if len(events) >= count:
            return events
        page.wait_for_timeout(100)
    stored = list(Event.objects.values_list("event", flat=True))
    raise AssertionError(f"only {len(stored)} events stored: {stored}; the page said: {errors}")


@pytest.mark.browser
def test_rudderstack_js_sdk_v3_delivers_to_clarm_also_on_a_retry(
    chromium_browser, live_server, sdk_site, storage_busy_once
):
    opened = _open(chromium_browser, f"{sdk_site.base}/rudderstack.html", site=sdk_site.base, clarm=live_server.url)
    events = _wait_events(opened.page, 3, opened.errors)
    opened.page.wait_for_function("window.sdkReady === true")
    # The SDK delivers each event in its own request, concurrently: stored order is not sent order.
    assert sorted(e.event for e in events) == ["Plan Chosen", "identify", "page_view"]
    assert {e.context["library"]["name"] for e in events} == {"RudderLabs JavaScript SDK"}
    assert all(e.message_id for e in events)
    customer = Customer.objects.get(status="live")
    assert {e.customer_id for e in events} == {customer.pk}
    assert (customer.email, customer.name) == ("river@example.com", "River Song")
    chosen = next(e for e in events if e.event == "Plan Chosen")
    assert chosen.properties == {"plan": "pro", "form": {"email": "r***@example.com"}}
    # What made the preflights: every delivery carries SentAt, AnonymousId and Basic auth, and the
    # retried one the SDK's Rsa-* headers (a refused preflight would have lost that event).
    assert all({"sentat", "anonymousid", "authorization"} <= set(h) for h in opened.posts), opened.posts
    retried = [h for h in opened.posts if "rsa-retry-attempt" in h]
    assert retried and {"rsa-since-first-attempt", "rsa-since-last-attempt", "rsa-retry-reason"} <= set(retried[0])
    assert not [e for e in opened.errors if "CORS" in e], opened.errors
    assert opened.outside == []


@pytest.mark.browser
def test_segment_analytics_next_delivers_to_clarm(chromium_browser, live_server, sdk_site):
    opened = _open(chromium_browser, f"{sdk_site.base}/segment.html", site=sdk_site.base, clarm=live_server.url)
    events = _wait_events(opened.page, 3, opened.errors)
    opened.page.wait_for_function("window.sdkReady === true")
    assert sorted(e.event for e in events) == ["Trial Started", "identify", "page_view"]
    assert {e.context["library"]["name"] for e in events} == {"analytics.js"}
    customer = Customer.objects.get(status="live")
    assert {e.customer_id for e in events} == {customer.pk}
    assert (customer.email, customer.name) == ("sam@example.com", "Sam Segment")
    assert not [e for e in opened.errors if "CORS" in e], opened.errors
    assert opened.outside == []


def test_the_preflight_allows_every_header_the_browser_sdks_send(client):
    """The same without a browser: each header the RudderStack SDK sets is in the preflight answer."""
    asked = (
        "authorization,anonymousid,content-type,sentat,rsa-recovered,rsa-retry-attempt,rsa-retry-reason,"
        "rsa-since-first-attempt,rsa-since-last-attempt"
    )
    r = client.options(
        "/v1/track",
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=asked,
    )
    assert r.status_code == 204
    allowed = {h.strip().lower() for h in r["Access-Control-Allow-Headers"].split(",")}
    assert set(asked.split(",")) <= allowed
    assert r["Access-Control-Allow-Origin"] == "https://shop.example"
