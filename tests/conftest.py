from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from playwright.sync_api import Browser

from tests.browser import browsers_settle, chromium, live_server_idle
from tests.factories import UserFactory, make_workspace
from tracking.ratelimit import rate_limits_forget
from workspaces.models import Workspace

DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"
DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the embedded default (SQLite), tests marked `postgres_only` are deselected; each such mark
    must say why."""
    for item in items:
        mark = item.get_closest_marker("postgres_only")
        if mark is not None and not mark.kwargs.get("reason"):
            raise pytest.UsageError(f"{item.nodeid}: postgres_only needs a reason=")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    dropped = [item for item in items if item.get_closest_marker("postgres_only") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.get_closest_marker("postgres_only") is None]


@dataclass
class Tenant:
    workspace: Workspace
    owner: AbstractBaseUser
    write_key: str
    secret_key: str


@pytest.fixture(autouse=True)
def _clear_cache(request):
    # The cache outlives a test (Redis; or the embedded default's cache table, which a
    # transactional test's flush keeps): rate-limit counters and cached lookups must not leak.
    if settings.CACHES["default"]["BACKEND"] != DATABASE_CACHE:
        cache.clear()
    elif request.node.get_closest_marker("django_db") or DB_FIXTURES.intersection(request.fixturenames):
        # The table lives in the test database, which only tests that use the database set up.
        request.getfixturevalue("django_db_setup")
        with request.getfixturevalue("django_db_blocker").unblock():
            cache.clear()
    rate_limits_forget()  # this process's share of the counters just cleared
    yield


@pytest.fixture(autouse=True)
def _live_server_quiet_when_done(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the live server, its browsers' pages are left and their requests (unload
    beacons too) answered, and the server's request threads have ended, before the test's database is
    emptied. A request still in flight then deadlocked the emptying, or ran without a database and
    logged a thousand tracebacks (CI, the widget's tests). The database is set up first, so that it
    is torn down after this (an autouse fixture is otherwise set up before the test's own)."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    browsers_settle()
    live_server_idle()


@pytest.fixture
def wsgi_keeps_connection():
    """Django's WSGI handler closes the database connection after each request (as Django's own
    test client prevents): keep it, so the test's transaction and its data survive a request made
    through the real WSGI application (clarm.wsgi)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tenant(db):
    """Workspace A with its owner and keys."""
    return Tenant(*make_workspace("Acme Movers"))


@pytest.fixture
def other_tenant(db):
    """Workspace B, for isolation tests."""
    return Tenant(*make_workspace("Brightside Dental"))


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def chromium_browser(monkeypatch) -> Iterator[Browser]:
    """Headless Chromium for one test (see tests/browser.py)."""
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser
