"""Requests per minute per write key and client (hashed) IP, counted in the shared cache.

Each process counts locally and adds its count to the shared counter (one Redis round trip, on the
per-process client of tracking.hotcache) at most every SYNC_SECONDS per counter, and on every
request once the count it knows of is within SYNC_MARGIN of the limit. So a busy sender costs Redis
a few round trips a second instead of one per request, and the limit is exact where it matters:
near it and beyond it. What another process counted in its last SYNC_SECONDS can be missed, so a
sender spread over N processes may get up to N × SYNC_SECONDS' worth of requests past the limit
before every process refuses it.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from tracking.hotcache import counter_add

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
SYNC_SECONDS = 0.25
SYNC_MARGIN = 0.9  # at or above this share of the limit, every request is counted in Redis first
_MAX_COUNTERS = 10_000


@dataclass
class _Counter:
    shared: int = 0  # the shared count as of the last sync (this process's part included)
    pending: int = 0  # counted here since then
    synced_at: float = 0.0


_counters: dict[str, _Counter] = {}
_lock = threading.Lock()


def _count(counter: str, *, now: float, limit: int) -> int:
    """This request counted; returns the count to judge it by."""
    with _lock:
        entry = _counters.get(counter)
        if entry is None:
            if len(_counters) >= _MAX_COUNTERS:
                _counters.clear()
            entry = _counters[counter] = _Counter()
        entry.pending += 1
        estimate = entry.shared + entry.pending
        due = not entry.synced_at or now - entry.synced_at >= SYNC_SECONDS or estimate >= limit * SYNC_MARGIN
        if not due:
            return estimate
        pending, entry.pending = entry.pending, 0
    try:
        shared = counter_add(counter, pending, ttl=WINDOW_SECONDS * 2)
    except Exception:
        with _lock:
            entry.pending += pending  # counted again at the next sync
        raise
    with _lock:
        entry.shared, entry.synced_at = shared, now
        return shared + entry.pending


def rate_limit_check(*, key_id: int, client: str) -> int | None:
    """Count this request; None when allowed, else the seconds to wait (for Retry-After).
    Fails open: if the cache is down, ingest goes on."""
    limit = settings.CLARM_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    try:
        count = _count(f"clarm:rl:{key_id}:{client}:{window}", now=now, limit=limit)
    except Exception:
        logger.warning("rate limit cache unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)


def rate_limits_forget() -> None:
    """Drop this process's local counts (tests: the shared counters were cleared)."""
    with _lock:
        _counters.clear()
