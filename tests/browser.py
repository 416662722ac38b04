"""Headless Debian Chromium for the browser tests, launched the same way in every area.

`chromium()` opens and always closes a browser; the `chromium_browser` fixture (tests/conftest.py)
wraps it for one test. `session_sign_in()` signs a user in for the live server.

Every page opened through it is watched: a Content-Security-Policy violation (an inline script or
handler without the nonce, a style or resource from elsewhere) or an uncaught script error fails
the test when the browser closes, so every browser test also proves its pages work under the CSP.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A person's desktop Chrome: headless Chromium's own agent ("HeadlessChrome") is flagged as a bot.
DESKTOP_CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"
SHOTS = Path("/tmp/shots")  # screenshots of key pages, made to be looked at
# axe-core from npm (package.json, installed by scripts/node-deps.sh), injected into pages by the tests.
AXE = Path(__file__).resolve().parent.parent / "node_modules/axe-core/axe.min.js"
AXE_WIDTHS = (1280, 390)

# Reports each CSP violation on the console, where the watcher below reads it.
_CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


class PageProblems:
    """CSP violations and uncaught script errors seen on any page of one browser."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" and ("CSP violation" in text or "Content Security Policy" in text):
            self.found.append(f"{message.page.url if message.page else '?'}: {text}")

    def _page_error(self, page: Page, error: Exception) -> None:
        self.found.append(f"{page.url}: uncaught {error}")

    def watch_context(self, context: BrowserContext) -> BrowserContext:
        requests_counted(context)
        context.add_init_script(_CSP_REPORTER)
        context.on("console", self._console)
        context.on("page", self.watch_page)
        for page in context.pages:
            self.watch_page(page)
        return context

    def watch_page(self, page: Page) -> None:
        page.on("pageerror", lambda error: self._page_error(page, error))

    def watch(self, browser: Browser) -> None:
        new_context, new_page = browser.new_context, browser.new_page

        def context_watched(*args: Any, **kwargs: Any) -> BrowserContext:
            return self.watch_context(new_context(*args, **kwargs))

        def page_watched(*args: Any, **kwargs: Any) -> Page:
            page = new_page(*args, **kwargs)
            self.watch_context(page.context)
            self.watch_page(page)
            return page

        browser.new_context = context_watched  # type: ignore[method-assign]
        browser.new_page = page_watched  # type: ignore[method-assign]


# The browsers `chromium` launched and has not closed yet (browsers_settle).
OPEN_BROWSERS: list[Browser] = []


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright's sync API, closed on the way out, also when a test
    fails; a test that passed fails here if any of its pages broke the CSP or threw."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = PageProblems()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        problems.watch(browser)
        OPEN_BROWSERS.append(browser)
        try:
            yield browser
        finally:
            OPEN_BROWSERS.remove(browser)
            browser.close()
    assert not problems.found, "pages broke the Content-Security-Policy or threw:\n" + "\n".join(problems.found)


def session_sign_in(context: BrowserContext, user: Any, url: str) -> None:
    """Give the browser `context` a signed-in session of `user` for the live server at `url`."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": url}])


def desktop_context(browser: Browser) -> BrowserContext:
    """A context that looks like a person's desktop Chrome to page scripts, on every page and also while
    a page is being left (Chromium reports its own HeadlessChrome agent to scripts running then)."""
    context = browser.new_context(user_agent=DESKTOP_CHROME)
    context.add_init_script(f"Object.defineProperty(navigator, 'userAgent', {{get: () => {DESKTOP_CHROME!r}}})")
    return context


def axe_serious(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page, as "rule (impact): where" lines. The
    page's context needs `bypass_csp=True`: axe is the test's script, not the page's."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport (sideways scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


_WIDE_ELEMENTS = """() => {
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.getBoundingClientRect().right <= window.innerWidth + 1) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1)) continue;
    const name = typeof el.className === "string" ? el.className.trim() : "";
    const cls = name ? "." + name.split(/\\s+/).join(".") : "";
    out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls);
  }
  return out.slice(0, 4);
}"""


def wide_elements(page: Page) -> list[str]:
    """The innermost elements that reach past the viewport's right edge (what makes it scroll)."""
    return list(page.evaluate(_WIDE_ELEMENTS))


def requests_counted(context: BrowserContext) -> BrowserContext:
    """Count the context's requests in flight (`context_settle`), beacons included. Every context of a
    browser `chromium` launched is counted (PageProblems.watch_context)."""
    if hasattr(context, "_clarm_requests"):
        return context
    state = {"open": 0}

    def done(_: Any) -> None:
        state["open"] -= 1

    context.on("request", lambda _: state.__setitem__("open", state["open"] + 1))
    context.on("requestfinished", done)
    context.on("requestfailed", done)
    context._clarm_requests = state  # type: ignore[attr-defined]
    return context


def context_settle(context: BrowserContext, *, timeout_ms: int = 5_000) -> None:
    """Leave every page (its unload beacons go out), wait until the server has answered every request
    of the context (`requests_counted`), then close it: nothing reaches the live server after the
    test, when its database is being emptied."""
    state = getattr(context, "_clarm_requests", None)
    pages = list(context.pages)
    for page in pages:
        try:
            page.goto("about:blank")
        except Exception:
            continue
    if state is not None and pages:
        waited = 0
        while state["open"] > 0 and waited < timeout_ms:
            pages[0].wait_for_timeout(25)  # Playwright delivers the events while it waits
            waited += 25
    context.close()


def browsers_settle() -> None:
    """`context_settle` every context still open in every browser still open (the root conftest does
    it after each test that used the live server, before its database is emptied)."""
    for browser in list(OPEN_BROWSERS):
        for context in list(browser.contexts):
            context_settle(context)


def live_server_idle(*, timeout: float = 5.0) -> None:
    """Wait until the live server's request threads have ended (after the browser closed its
    connections): a request still being served when the test's database is emptied deadlocks the
    emptying or runs without a database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.02)
