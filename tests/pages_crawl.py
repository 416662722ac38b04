"""Open every page a member can reach in the demo workspace, in headless Chromium, and report what
is wrong. Used by the smoke run against `make run` (scripts/smoke_pages.py) and by the suite against
its live server on both databases (tests/ui/test_every_page.py).

Logs in as the demo user through the login form, then follows every link under `/w/<slug>/` from
the pages it opens (the navigation, customers, the summary's PDF, …; at most PER_ROUTE pages of one
kind, e.g. three customers of the demo's hundreds), and checks that every
workspace view in the URL conf that answers GET with no argument but the workspace was opened or
fetched by one of them, so a new page cannot be left out. A problem is any 4xx/5xx answer, page or
subresource, any browser console error or uncaught exception, a failed request, or a page showing a
local URL on another port (the snippet, webhook URLs: `PORT=8101 make run` must not show :8000).
"""

import contextlib
import re
import time
from collections import deque
from urllib.parse import urljoin, urlsplit

from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.views.generic import View
from playwright.sync_api import ConsoleMessage, Page, Request, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser import AXE_WIDTHS, CHROMIUM, CHROMIUM_ARGS, axe_serious, overflow, wide_elements
from workspaces.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_WORKSPACE_SLUG

MAX_PAGES = 300
# Pages opened per kind (URL pattern): the demo has hundreds of customers and threads; a few of each
# kind show that kind works, and keep the crawl fast.
PER_ROUTE = 3
LOCAL_ORIGIN = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::\d+)?")
WORKSPACE_PREFIX = "w/<slug:ws>/"


def workspace_get_routes() -> list[str]:
    """Routes of workspace pages that take only the workspace and answer GET, e.g. `w/<slug:ws>/live/`."""
    routes = []

    def walk(patterns: list, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
                continue
            assert isinstance(entry, URLPattern)
            route = prefix + str(entry.pattern)
            view_class = getattr(entry.callback, "view_class", None)
            takes_only_ws = route.startswith(WORKSPACE_PREFIX) and route.count("<") == 1
            if takes_only_ws and view_class is not None and issubclass(view_class, View) and hasattr(view_class, "get"):
                routes.append(route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(routes))


def _route(path: str) -> str:
    try:
        return resolve(path).route
    except Resolver404:
        return path


class PagesCrawl:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base))
        self.problems: list[str] = []
        self.current = ""
        self.requested: set[str] = set()  # paths the opened pages fetched
        self.html: dict[str, str] = {}  # the HTML of each opened page
        self.snippet_seen = False

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.current or '(login)'}: {text}")

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.problem(f"console error: {message.text}")

        def on_response(response: Response) -> None:
            self.requested.add(urlsplit(response.url).path)
            if response.status >= 400:
                self.problem(f"{response.request.method} {response.url} answered {response.status}")

        def on_failed(request: Request) -> None:
            self.problem(f"{request.method} {request.url} failed: {request.failure}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problem(f"uncaught: {error}"))
        page.on("response", on_response)
        page.on("requestfailed", on_failed)

    def run(self) -> int:
        started = time.monotonic()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context()
                page = context.new_page()
                self.watch(page)
                if not self.sign_in(page):
                    return self.report(0, started)
                visited = self.crawl(page, f"/w/{DEMO_WORKSPACE_SLUG}/")
                self.current = ""
                if not self.snippet_seen:
                    self.problem(f"no page showed the snippet loading {self.base}/static/clarm.js")
                self.current = f"{self.base}/static/clarm.js"
                snippet = context.request.get(self.current)
                if snippet.status != 200 or "javascript" not in snippet.headers.get("content-type", ""):
                    self.problem(f"answered {snippet.status} {snippet.headers.get('content-type')}")
            finally:
                browser.close()
        return self.report(visited, started)

    def sign_in(self, page: Page) -> bool:
        """Sign in as the demo user through the login form."""
        page.goto(f"{self.base}/accounts/login/")
        page.fill("input[name=login]", DEMO_EMAIL)
        page.fill("input[name=password]", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("form button[type=submit], form input[type=submit]")
        if "/accounts/login/" in page.url:
            self.problem("the demo login was refused")
            return False
        return True

    def pages_by_route(self) -> dict[str, str]:
        """One opened page of each kind (URL pattern): the first opened, e.g. one customer's page."""
        pages: dict[str, str] = {}
        for url in self.html:
            try:
                match = resolve(urlsplit(url).path)
            except Resolver404:
                continue
            pages.setdefault(match.route, url)
        return pages

    def axe_check(self, widths: tuple[int, ...] = AXE_WIDTHS) -> int:
        """After run(): axe-core on one page of each kind the crawl opened, at each width, with no
        serious or critical violation and no sideways scrolling. Returns the number of checks."""
        checked = 0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # bypass_csp: axe is injected by the test; the crawl itself ran under the CSP.
                page = browser.new_context(bypass_csp=True).new_page()
                if not self.sign_in(page):
                    return 0
                for url in self.pages_by_route().values():
                    self.current = url
                    for width in widths:
                        page.set_viewport_size({"width": width, "height": 900})
                        page.goto(url, wait_until="load")
                        for line in axe_serious(page):
                            self.problem(f"axe at {width} px: {line}")
                        wider = overflow(page)
                        if wider > 0:
                            self.problem(
                                f"{wider} px wider than a {width} px screen (sideways scrolling): "
                                f"{', '.join(wide_elements(page))}"
                            )
                        checked += 1
            finally:
                browser.close()
        self.current = ""
        print(f"pages: axe-core on {checked // max(len(widths), 1)} kinds of page at {widths} px")
        return checked

    def crawl(self, page: Page, scope: str) -> int:
        queue = deque([urljoin(self.base, scope + "customers/")])
        seen_paths: set[str] = set()
        per_route: dict[str, int] = {}
        opened: list[str] = []
        while queue and len(opened) < MAX_PAGES:
            url = queue.popleft()
            path = urlsplit(url).path
            if path in seen_paths:
                continue
            route = _route(path)
            if per_route.get(route, 0) >= PER_ROUTE:
                continue
            per_route[route] = per_route.get(route, 0) + 1
            seen_paths.add(path)
            self.current = url
            opened.append(path)
            probe = page.context.request.get(url)  # same cookies; tells pages from downloads
            if probe.status >= 400:
                self.problem(f"GET answered {probe.status}")
                continue
            kind = probe.headers.get("content-type", "")
            if not kind.startswith("text/html"):
                if kind.startswith("application/pdf") and not probe.body().startswith(b"%PDF"):
                    self.problem("the PDF is not a PDF")
                continue
            response = page.goto(url, wait_until="load")
            if response is None or response.status >= 400:
                continue  # reported by the response handler
            with contextlib.suppress(PlaywrightTimeout):  # a page that polls may never be quiet
                page.wait_for_load_state("networkidle", timeout=5000)
            self.html[url] = page.content()
            self.check_own_urls(self.html[url])
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                target = urlsplit(href)
                if f"{target.scheme}://{target.netloc}" == self.origin and target.path.startswith(scope):
                    queue.append(href.split("#")[0])
        self.current = ""
        for route in workspace_get_routes():
            path = "/" + route.replace("<slug:ws>", DEMO_WORKSPACE_SLUG)
            if path in seen_paths | self.requested:
                continue
            # Named by a page (a script's endpoint, e.g. the live feed polled every 2 s): fetched here.
            referrers = [url for url, html in self.html.items() if f'"{path}' in html]
            if not referrers:
                self.problem(f"{path} ({route} in the URL conf) is reached from no page a member opens")
                continue
            self.current = referrers[0]
            answer = page.context.request.get(urljoin(self.base, path))
            opened.append(path)
            if answer.status >= 400:
                self.problem(f"GET {path} answered {answer.status}")
        print(f"pages: opened {len(opened)} pages and downloads of the demo workspace")
        return len(opened)

    def check_own_urls(self, html: str) -> None:
        """The snippet, webhook URLs and links a page shows point at this server (its PORT), never
        at a default such as :8000."""
        for origin in set(LOCAL_ORIGIN.findall(html)):
            if origin != self.origin:
                self.problem(f"shows {origin}, not this server's {self.origin}")
        if f'src="{self.base}/static/clarm.js"' in html.replace("&quot;", '"'):
            self.snippet_seen = True

    def report(self, visited: int, started: float) -> int:
        took = time.monotonic() - started
        if self.problems:
            print(f"pages: {len(self.problems)} problem(s) in {visited} pages ({took:.1f} s):")
            for line in self.problems:
                print(f"  {line}")
            return 1
        print(f"pages: every page answered without an error or a console error ({took:.1f} s)")
        return 0
