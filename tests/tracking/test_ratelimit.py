"""The ingest rate limit: counted per process, shared through the cache (Redis, or the embedded
default's database cache), exact near the limit."""

import pytest

from tracking import hotcache, ratelimit
from tracking.ratelimit import rate_limit_check, rate_limits_forget

# The counters live in the default cache: Redis, or the embedded default's cache table.
pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_clock(ratelimit_clock):
    return ratelimit_clock  # 10 s into a minute window


@pytest.fixture
def redis_calls(monkeypatch):
    calls = []
    real = hotcache.counter_add

    def counted(key, amount, *, ttl):
        calls.append(amount)
        return real(key, amount, ttl=ttl)

    monkeypatch.setattr(ratelimit, "counter_add", counted)
    return calls


def test_far_below_the_limit_requests_are_counted_locally_and_synced_a_few_times_a_second(
    settings, frozen_clock, redis_calls
):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 1000
    assert all(rate_limit_check(key_id=1, client="c") is None for _ in range(50))
    assert redis_calls == [1]  # the first request syncs; the next 49 within SYNC_SECONDS do not

    frozen_clock["now"] += ratelimit.SYNC_SECONDS
    assert rate_limit_check(key_id=1, client="c") is None
    assert redis_calls == [1, 50]  # the 49 counted here, plus this one, added in one round trip


def test_the_limit_is_exact_in_one_process(settings, frozen_clock, redis_calls):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 100
    answers = [rate_limit_check(key_id=2, client="c") for _ in range(130)]
    assert answers[:100] == [None] * 100
    assert all(a == 51 for a in answers[100:])  # Retry-After: to the end of the window, +1
    assert sum(redis_calls) == 130  # every request reached the shared counter in the end


def test_what_other_processes_counted_is_respected_once_they_synced(settings, frozen_clock):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 10
    for _ in range(8):  # "process A"
        assert rate_limit_check(key_id=3, client="c") is None
    frozen_clock["now"] += ratelimit.SYNC_SECONDS
    assert rate_limit_check(key_id=3, client="c") is None  # A's 9 reach the shared counter
    rate_limits_forget()  # "process B": nothing counted locally, the shared counter says 9
    assert rate_limit_check(key_id=3, client="c") is None
    assert rate_limit_check(key_id=3, client="c") is not None  # the 11th of the window, across both


def test_keys_and_clients_are_counted_apart(settings, frozen_clock):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 2
    for _ in range(2):
        assert rate_limit_check(key_id=4, client="a") is None
    assert rate_limit_check(key_id=4, client="a") is not None
    assert rate_limit_check(key_id=4, client="b") is None
    assert rate_limit_check(key_id=5, client="a") is None


def test_a_new_window_starts_from_zero(settings, frozen_clock):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 1
    assert rate_limit_check(key_id=6, client="c") is None
    assert rate_limit_check(key_id=6, client="c") is not None
    frozen_clock["now"] += 60
    assert rate_limit_check(key_id=6, client="c") is None


def test_a_cache_outage_lets_requests_through_and_loses_no_count(settings, frozen_clock, monkeypatch):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 3
    real = ratelimit.counter_add

    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(ratelimit, "counter_add", down)
    assert rate_limit_check(key_id=7, client="c") is None  # fails open
    assert rate_limit_check(key_id=7, client="c") is None
    monkeypatch.setattr(ratelimit, "counter_add", real)
    assert rate_limit_check(key_id=7, client="c") is None  # the two counted during the outage arrive now
    assert rate_limit_check(key_id=7, client="c") is not None
