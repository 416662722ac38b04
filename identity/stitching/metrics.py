"""What the stitchers report about themselves, for /api/status and /metrics: events stitched, and the
stitch lag (202 → stored) of recent batches, kept in the shared cache per partition (the last
LAG_SAMPLES events, one cache write per batch). Queue depth comes from the pending table itself."""

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.core.cache import cache


class _Received(Protocol):
    @property
    def partition(self) -> int: ...

    @property
    def received_at(self) -> datetime: ...


LAG_SAMPLES = 1000
_TTL = 24 * 3600


def _lag_key(partition: int) -> str:
    return f"clarm:stitch:lag:{partition}"


STITCHED_KEY = "clarm:stitch:stitched"


def stitch_observe(pending: Iterable[_Received], *, now: datetime) -> None:
    """Record a committed-to-be batch: its events' lags and count. Never raises (metrics only)."""
    by_partition: dict[int, list[float]] = {}
    count = 0
    for row in pending:
        by_partition.setdefault(row.partition, []).append(max(0.0, (now - row.received_at).total_seconds()))
        count += 1
    try:
        for partition, lags in by_partition.items():
            samples = (cache.get(_lag_key(partition)) or []) + [round(lag, 4) for lag in lags]
            cache.set(_lag_key(partition), samples[-LAG_SAMPLES:], timeout=_TTL)
        if cache.add(STITCHED_KEY, count, timeout=None):
            return
        cache.incr(STITCHED_KEY, count)
    except Exception:
        return


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def stitch_lag_quantiles() -> dict[str, float]:
    """p50 and p99 of the recent stitch lags, over every partition, in seconds."""
    keys = [_lag_key(p) for p in range(settings.CLARM_STITCH_PARTITIONS)]
    samples = [lag for values in cache.get_many(keys).values() for lag in values]
    return {"p50": _quantile(samples, 0.5), "p99": _quantile(samples, 0.99)}


def stitched_total() -> int:
    return int(cache.get(STITCHED_KEY) or 0)
