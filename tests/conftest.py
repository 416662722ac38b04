from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from playwright.sync_api import Browser

from tests.browser import chromium
from tests.factories import UserFactory, make_workspace
from tracking.ratelimit import rate_limits_forget
from workspaces.models import Workspace


@dataclass
class Tenant:
    workspace: Workspace
    owner: AbstractBaseUser
    write_key: str
    secret_key: str


@pytest.fixture(autouse=True)
def _clear_cache():
    # Redis is shared by the whole run: rate-limit counters and cached lookups must not leak.
    cache.clear()
    rate_limits_forget()  # this process's share of the counters just cleared
    yield


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
