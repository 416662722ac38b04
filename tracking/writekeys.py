"""Write keys on the ingest hot path: looked up once a minute per process, not per request.

A revoked key keeps working for at most KEY_CACHE_SECONDS on a process that has it cached; a
workspace's settings (region, allowed origins, consent mode) are read with the same delay."""

import copy
import logging
import threading
import time

from django.core.cache import cache
from django.utils import timezone

from workspaces.keys import key_authenticate
from workspaces.models import ApiKey, ApiKeyKind

logger = logging.getLogger(__name__)

KEY_CACHE_SECONDS = 60.0
UNKNOWN_KEY_CACHE_SECONDS = 10.0
LAST_USED_EVERY_SECONDS = 60
_MAX_ENTRIES = 10_000

_keys: dict[str, tuple[float, ApiKey | None]] = {}
_last_used: dict[int, float] = {}
_lock = threading.Lock()


def write_key_resolve(plain: str) -> ApiKey | None:
    """The active write key with that value (with its workspace), or None. The returned object is
    a copy: callers may not change the cached one."""
    now = time.monotonic()
    hit = _keys.get(plain)
    if hit is not None and hit[0] > now:
        found = hit[1]
    else:
        found = key_authenticate(kind=ApiKeyKind.WRITE, plain=plain)
        with _lock:
            if len(_keys) >= _MAX_ENTRIES:
                _keys.clear()
            ttl = KEY_CACHE_SECONDS if found is not None else UNKNOWN_KEY_CACHE_SECONDS
            _keys[plain] = (now + ttl, found)
    if found is None:
        return None
    key = copy.copy(found)
    key.workspace = copy.copy(found.workspace)
    return key


def write_key_touch(key: ApiKey) -> None:
    """Record `last_used_at` at most once a minute per key (per process first, then across
    processes through the shared cache)."""
    now = time.monotonic()
    if _last_used.get(key.pk, 0.0) > now:
        return
    _last_used[key.pk] = now + LAST_USED_EVERY_SECONDS
    try:
        first = cache.add(f"clarm:key-used:{key.pk}", 1, LAST_USED_EVERY_SECONDS)
    except Exception:
        logger.warning("cache unavailable for key last_used_at", exc_info=True)
        first = True
    if first:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())


def write_keys_forget() -> None:
    """Drop this process's cached keys (tests, and after a key is revoked in this process)."""
    with _lock:
        _keys.clear()
        _last_used.clear()
