"""The write path's after-commit hook: what runs once events are durable and stitched.

Processors higher up (enrichment and intent today; destinations next) subscribe once at start-up
(their AppConfig.ready) with `events_committed_subscribe`; `events_ingest` calls
`events_committed_notify` after its commit. A subscriber should only enqueue work (a Celery task
taking the ids): it runs in the ingest request. A failing subscriber is logged and never turns an
accepted request into an error (the events are already stored)."""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

EventsCommitted = Callable[[int, list[int]], None]
_subscribers: list[EventsCommitted] = []


def events_committed_subscribe(subscriber: EventsCommitted) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def events_committed_notify(*, workspace_id: int, event_ids: list[int]) -> None:
    if not event_ids:
        return
    for subscriber in list(_subscribers):
        try:
            subscriber(workspace_id, list(event_ids))
        except Exception:
            logger.exception("events_committed subscriber %r failed", subscriber)
