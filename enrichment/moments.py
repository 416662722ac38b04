"""The `high_intent_visitor` moment: code that acts on it (destinations: Slack, webhooks, CRMs)
subscribes here once at start-up; the moment is also an event on the person's timeline (source
`agent`), which flows through the write path's after-commit hook like any other event."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HighIntentVisitor:
    workspace_id: int
    customer_id: int
    event_id: int
    score: int


HighIntentSubscriber = Callable[[HighIntentVisitor], None]
_subscribers: list[HighIntentSubscriber] = []


def high_intent_visitor_subscribe(subscriber: HighIntentSubscriber) -> None:
    """Call `subscriber(moment)` after commit each time a customer's intent crosses 70 upward."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def high_intent_visitor_unsubscribe(subscriber: HighIntentSubscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def high_intent_visitor_publish(moment: HighIntentVisitor) -> None:
    for subscriber in list(_subscribers):
        try:
            subscriber(moment)
        except Exception:
            logger.exception("high_intent_visitor subscriber %r failed", subscriber)
