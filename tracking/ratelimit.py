"""Requests per minute per write key and client (hashed) IP, counted in the shared cache."""

import logging
import time

from django.conf import settings
from django.core.cache import cache

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
        try:
            count = cache.incr(counter)
        except ValueError:  # first request of the window
            count = 1 if cache.add(counter, 1, WINDOW_SECONDS * 2) else cache.incr(counter)
    except Exception:
        logger.warning("rate limit cache unavailable", exc_info=True)
        return None
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
