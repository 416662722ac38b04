"""How the write path hands committed events to enrichment without paying a Celery publish per
request: one Redis round trip (push the ids on a list, and raise a "drain scheduled" flag if it was
down), and a Celery drain task published only by the request that raised the flag. The drain
lowers the flag, then takes what is queued (up to DRAIN_MAX entries) and processes it grouped by
workspace, so a person's many events in the meantime are scored once.

No event is left behind: a push before the drain lowers the flag is taken by that drain; a push
after it raises the flag again and publishes the next drain. If a worker dies after taking
entries, those events are not enriched until the person's next event (which rescores their whole
history); a lost drain message leaves the flag up for FLAG_TTL seconds at most, and beat runs a
drain every minute (enrichment-drain-sweep) for entries left queued meanwhile.

Without Redis (the embedded default) each request publishes the processing task itself."""

import json
import logging
from collections import defaultdict
from typing import Any

from tracking.hotcache import redis_client

logger = logging.getLogger(__name__)

QUEUE_KEY = "clarm:enrich:queue"
FLAG_KEY = "clarm:enrich:drain"
FLAG_TTL = 60
DRAIN_MAX = 2000


def events_queue_push(workspace_id: int, event_ids: list[int], *, schedule: Any, process: Any) -> None:
    """Queue committed events; `schedule()` publishes a drain, `process(ws, ids)` the direct task."""
    client = redis_client()
    if client is None:
        process(workspace_id, event_ids)
        return
    pipe = client.pipeline(transaction=False)
    pipe.rpush(QUEUE_KEY, json.dumps([workspace_id, event_ids]))
    pipe.set(FLAG_KEY, 1, nx=True, ex=FLAG_TTL)
    _, raised = pipe.execute()
    if raised:
        schedule()


def events_queue_take() -> tuple[dict[int, list[int]], bool]:
    """Lower the flag and take up to DRAIN_MAX queued entries: event ids by workspace, and whether
    more may be left."""
    client = redis_client()
    if client is None:
        return {}, False
    client.delete(FLAG_KEY)
    pipe = client.pipeline(transaction=True)
    pipe.lrange(QUEUE_KEY, 0, DRAIN_MAX - 1)
    pipe.ltrim(QUEUE_KEY, DRAIN_MAX, -1)
    raw, _ = pipe.execute()
    by_workspace: dict[int, list[int]] = defaultdict(list)
    for item in raw:
        try:
            workspace_id, event_ids = json.loads(item)
            by_workspace[int(workspace_id)].extend(int(i) for i in event_ids)
        except (ValueError, TypeError):
            logger.warning("enrichment queue: unreadable entry %r dropped", item[:100])
    return dict(by_workspace), len(raw) == DRAIN_MAX


def events_queue_flag_raise() -> bool:
    """Raise the flag (True when this call raised it: the caller publishes the next drain)."""
    client = redis_client()
    return bool(client is not None and client.set(FLAG_KEY, 1, nx=True, ex=FLAG_TTL))
