"""The ingest's cache round trips: a per-process redis client when the cache is Redis, Django's
cache otherwise (the embedded default has no Redis), same behaviour either way."""

import pytest
from django.test.utils import CaptureQueriesContext

from tracking import hotcache
from tracking.models import Visit


def _visit_reads(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if q["sql"].startswith('SELECT "tracking_visit"'))


@pytest.fixture
def locmem_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hot"}}
    assert hotcache.redis_client() is None
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.mark.parametrize(
    "backend", [pytest.param("redis", marks=pytest.mark.postgres_only(reason="needs Redis")), "django cache"]
)
def test_rate_limit_and_visit_cache_work_on_either_backend(post_track, settings, request, backend):
    from django.db import connection

    # Mid-window, so the four requests cannot straddle a minute boundary (a new window starts at 0).
    request.getfixturevalue("ratelimit_clock")["now"] = 1_800_000_030.0

    if backend == "django cache":
        request.getfixturevalue("locmem_cache")
    else:
        assert hotcache.redis_client() is not None
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 3
    assert post_track({"event": "page_view", "visitor_id": "v-hot", "session_id": "s1"}).status_code == 202
    with CaptureQueriesContext(connection) as captured:
        assert post_track({"event": "click", "visitor_id": "v-hot", "session_id": "s1"}).status_code == 202
    assert _visit_reads(captured) == 0  # the device's visit came from the cache
    assert post_track({"event": "click", "visitor_id": "v-hot", "session_id": "s1"}).status_code == 202
    refused = post_track({"event": "click", "visitor_id": "v-hot", "session_id": "s1"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert Visit.objects.get().event_count == 3


@pytest.mark.postgres_only(reason="reads Redis keys and TTLs")
def test_redis_entries_expire_and_are_cleared_with_the_cache(post_track):
    from django.core.cache import cache

    client = hotcache.redis_client()
    assert post_track({"event": "page_view", "visitor_id": "v-ttl", "session_id": "s1"}).status_code == 202
    keys = sorted(k.decode() for k in client.keys("clarm:*"))
    assert [k.split(":")[1] for k in keys] == ["rl", "visit"]
    assert all(0 < client.ttl(k) <= 6 * 3600 for k in keys)
    assert 0 < client.ttl(keys[0]) <= 120  # the rate-limit window's counter
    cache.clear()
    assert client.keys("clarm:*") == []
    # With the cache gone the visit is read from the database and continued.
    assert post_track({"event": "click", "visitor_id": "v-ttl", "session_id": "s1"}).status_code == 202
    assert Visit.objects.get().event_count == 2
