"""The ingest hot path's shared cache: one redis-py client per process when the default cache is
Redis (the production shape), Django's cache otherwise (the embedded default needs no Redis).

Django's RedisCache builds a client object per call (~0.2 ms each); the ingest talks to Redis
once or twice per request (the devices' visits, their refresh; the rate-limit counter a few times
a second), so it keeps one client on the same server and database as the default cache (`CACHES["default"]["LOCATION"]`:
`cache.clear()` clears these keys too). Values are JSON, keys are prefixed `clarm:`.
"""

import json
import logging
import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
_lock = threading.Lock()
_client: Any = None
_client_location: str | None = None


def redis_client() -> Any:
    """The per-process redis client, or None when the default cache is not Redis."""
    global _client, _client_location
    config = settings.CACHES.get("default", {})
    if config.get("BACKEND") != _REDIS_BACKEND:
        return None
    location = config.get("LOCATION")
    if isinstance(location, list | tuple):
        location = location[0]
    if _client is None or _client_location != location:
        import redis

        with _lock:
            if _client is None or _client_location != location:
                timeout = settings.REDIS_SOCKET_TIMEOUT
                _client = redis.Redis.from_url(str(location), socket_timeout=timeout, socket_connect_timeout=timeout)
                _client_location = location
    return _client


def counter_add(key: str, amount: int, *, ttl: int) -> int:
    """Add `amount` to a counter that expires `ttl` seconds after it was first added to; returns
    the new count. One round trip."""
    client = redis_client()
    if client is None:
        try:
            return int(cache.incr(key, amount))
        except ValueError:  # first increment
            return amount if cache.add(key, amount, ttl) else int(cache.incr(key, amount))
    pipe = client.pipeline(transaction=False)
    pipe.set(key, 0, ex=ttl, nx=True)
    pipe.incrby(key, amount)
    return int(pipe.execute()[1])


def json_get_many(keys: list[str]) -> dict[str, Any]:
    """The JSON values stored under these keys (missing or unreadable ones left out); one round trip."""
    client = redis_client()
    if client is None:
        return cache.get_many(keys)
    out: dict[str, Any] = {}
    for key, raw in zip(keys, client.mget(keys), strict=True):
        if raw is not None:
            try:
                out[key] = json.loads(raw)
            except ValueError:
                continue
    return out


def json_set_many(entries: dict[str, Any], *, ttl: int) -> None:
    client = redis_client()
    if client is None:
        cache.set_many(entries, ttl)
        return
    pipe = client.pipeline(transaction=False)
    for key, value in entries.items():
        pipe.set(key, json.dumps(value), ex=ttl)
    pipe.execute()


def delete_many(keys: list[str]) -> None:
    client = redis_client()
    if client is None:
        cache.delete_many(keys)
        return
    client.delete(*keys)
