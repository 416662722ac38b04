"""Requests per minute per write key and client (hashed) IP, counted in the shared cache (one
Redis round trip on the per-process client of tracking.hotcache)."""

import logging
import time

from django.conf import settings

from tracking.hotcache import counter_incr

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def rate_limit_check(*, key_id: int, client: str) -> int | None:
    """Count this request; None when allowed, else the seconds to wait (for Retry-After).
    Fails open: if the cache is down, ingest goes on."""
    limit = settings.CLARM_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    counter = f"clarm:rl:{key_id}:{client}:{window}"
    try:
        count = counter_incr(counter, ttl=WINDOW_SECONDS * 2)
    except Exception:
        logger.warning("rate limit cache unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
