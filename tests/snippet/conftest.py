"""Fixtures for the browser snippet: a site server, a recording collector on another origin, Chromium."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser import chromium

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SNIPPET = REPO / "static" / "clarm.js"
WRITE_KEY = "wk_test_snippet"


@dataclass
class Collector:
    """What the fake Clarm host saw, and how it should answer."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    preflights: int = 0
    statuses: list[int] = field(default_factory=list)  # answers for the next POSTs, then 202
    consent_answer: tuple[int, dict[str, Any]] = (200, {"consent_required": True, "mode": "always"})
    consent_asks: int = 0
    retry_after: str | None = None  # sent with every answer that is not a 2xx
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, post: dict[str, Any]) -> int:
        with self.lock:
            post["status"] = self.statuses.pop(0) if self.statuses else 202
            post["at"] = time.monotonic()
            self.posts.append(post)
            return post["status"]

    def events(self, *, delivered_only: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            posts = [p for p in self.posts if not delivered_only or 200 <= p["status"] < 300]
        return [e for p in posts for e in p["body"].get("batch", [])]

    def named(self, name: str, **kw: Any) -> list[dict[str, Any]]:
        return [e for e in self.events(**kw) if e.get("event") == name]

    def wait_named(self, name: str, count: int, timeout: float = 8.0) -> list[dict[str, Any]]:
        """Waits until at least `count` events called `name` arrived; returns them."""
        return self.wait_for(lambda: len(self.named(name)) >= count and self.named(name), timeout)

    def wait_for(self, check: Callable[[], Any], timeout: float = 8.0) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = check()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out; events seen: {[e.get('event') for e in self.events()]}")

    def raw(self) -> str:
        with self.lock:
            return json.dumps(self.posts)


def _handler(collector: Collector, page_base: list[str], host_base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain", cors: bool = False) -> None:
            self.send_response(status)
            if collector.retry_after and status >= 300:
                self.send_header("Retry-After", collector.retry_after)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if cors:
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Expose-Headers", "Retry-After")
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self) -> None:
            collector.preflights += 1
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Clarm-Key")
            self.end_headers()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/static/clarm.js":
                self._send(200, SNIPPET.read_bytes(), "application/javascript")
            elif url.path == "/api/consent":
                collector.consent_asks += 1
                status, answer = collector.consent_answer
                self._send(status, json.dumps(answer).encode(), "application/json", cors=True)
            elif url.path == "/other.html":
                self._send(200, (HERE / "other.html").read_bytes(), "text/html")
            elif url.path in ("/page.html", "/pricing"):
                self._send(200, _render_page(query, query.get("host", host_base[0])).encode(), "text/html")
            else:
                self._send(404, b"not found")

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if url.path != "/api/track":
                self._send(404, b"not found", cors=True)
                return
            body = json.loads(raw)
            status = collector.record(
                {
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                    "raw": raw.decode(),
                }
            )
            n = len(body.get("batch", []))
            answer = (
                {"accepted": n, "duplicates": 0, "rejected": [], "warnings": []}
                if status == 202
                else {"error": "unavailable"}
            )
            self._send(status, json.dumps(answer).encode(), "application/json", cors=True)

    return Handler


def _render_page(query: dict[str, str], host: str) -> str:
    key = query.get("key", WRITE_KEY)
    attrs = "".join(f' data-{name}="{query[name]}"' for name in ("consent", "auto") if name in query)
    pre = ""
    if query.get("pre") == "1":
        pre = (
            "<script>ClarmTrack('identify', {email: 'early@example.com', name: 'Early Bird'});"
            "ClarmTrack('goal_achieved', {goal: 'demo_booked', value: 500});"
            "ClarmTrack('purchase', {amount: 299, currency: 'USD', orderId: 'ord_123'});</script>"
        )
    template = (HERE / "page.html").read_text()
    return (
        template.replace("{{HOST}}", host)
        .replace("{{KEY}}", key)
        .replace("{{ATTRS}}", attrs)
        .replace("{{PRE}}", pre)
        .replace("{{TALL}}", query.get("tall", "3000"))
    )


@dataclass
class Site:
    collector: Collector
    page_base: str  # the business's site (first party)
    host_base: str  # the Clarm host (another origin, so CORS rules apply)

    def url(self, **params: str) -> str:
        params.setdefault("consent", "not-required")
        return f"{self.page_base}/page.html?{urlencode(params)}"


@pytest.fixture
def site() -> Iterator[Site]:
    collector = Collector()
    page_base: list[str] = []
    host_base: list[str] = []
    handler = _handler(collector, page_base, host_base)
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    page_base.append(f"http://127.0.0.1:{servers[0].server_address[1]}")
    host_base.append(f"http://127.0.0.1:{servers[1].server_address[1]}")
    yield Site(collector, page_base[0], host_base[0])
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def stored(page: Page) -> dict[str, Any]:
    """Everything the page's origin keeps on the device (web storage and cookies)."""
    return page.evaluate(
        """() => ({
            local: Object.assign({}, localStorage),
            session: Object.assign({}, sessionStorage),
            cookie: document.cookie,
        })"""
    )
