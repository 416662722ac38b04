"""Headless Debian Chromium for the browser tests, launched the same way in every area.

`chromium()` opens and always closes a browser; the `chromium_browser` fixture (tests/conftest.py)
wraps it for one test. `session_sign_in()` signs a user in for the live server.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, sync_playwright

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


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright's sync API, closed on the way out, also when a test fails."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
