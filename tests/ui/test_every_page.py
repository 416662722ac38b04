"""Every page a member can reach in the demo workspace opens without an error or a console error, on
the database this pass runs on (SQLite, the embedded default, as well as PostgreSQL): the crawl of
the smoke run (tests/pages_crawl.py) against the live server, the demo data loaded as `make run`
loads it (a smaller crowd). Then axe-core (npm) on one page of each kind, at 1280 and 390 px: no serious or critical
violation and no sideways scrolling."""

from urllib.parse import urlsplit

import pytest
from django.urls import resolve

from clarm.demo.loading import demo_data_load
from tests.pages_crawl import PagesCrawl
from workspaces.demo import demo_workspace_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_workspace_page_opens_cleanly_in_chromium(live_server, settings, monkeypatch):
    # Playwright's sync API keeps an asyncio loop on this thread; the ORM calls here stay sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.CLARM_PUBLIC_URL = live_server.url  # as `make run` serves: the public URL is this server
    workspace, write_key = demo_workspace_ensure()
    # The demo as `make run` loads it, with 40 generated people instead of 500 (every channel and door is
    # in them; the suite runs this on both databases with every processor eager).
    assert demo_data_load(workspace=workspace, write_key=write_key, people=40).problems == []

    crawl = PagesCrawl(live_server.url)
    assert crawl.run() == 0, crawl.problems
    assert not crawl.problems
    # axe-core at 1280 and 390 px on one page of each kind the crawl opened (issue 16).
    kinds = crawl.pages_by_route()
    assert {"identity:dashboard", "identity:customer", "identity:customers"} <= {
        resolve(urlsplit(url).path).view_name for url in kinds.values()
    }
    assert crawl.axe_check() == 2 * len(kinds)
    assert crawl.problems == [], "\n".join(crawl.problems)
