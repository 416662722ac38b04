import pytest
from django.core.cache import cache

from tests.factories import UserFactory, make_workspace


@pytest.fixture(autouse=True)
def _clear_cache():
    # Redis is shared by the whole run: rate-limit counters and cached lookups must not leak.
    cache.clear()
    yield


@pytest.fixture
def tenant(db):
    """Workspace A with its owner and keys."""
    workspace, owner, write_key, secret_key = make_workspace("Acme Movers")
    return type("Tenant", (), {"workspace": workspace, "owner": owner, "write_key": write_key, "secret_key": secret_key})


@pytest.fixture
def other_tenant(db):
    """Workspace B, for isolation tests."""
    workspace, owner, write_key, secret_key = make_workspace("Brightside Dental")
    return type("Tenant", (), {"workspace": workspace, "owner": owner, "write_key": write_key, "secret_key": secret_key})


@pytest.fixture
def user(db):
    return UserFactory()
