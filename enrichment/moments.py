"""The `high_intent_visitor` moment: code that acts on it (destinations: Slack, webhooks, CRMs)
subscribes here once at start-up; the moment is also an event on the person's timeline (source
`agent`), which flows through the write path's after-commit hook like any other event."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from integrations.destinations.hooks import high_intent_visitor_fired

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


def high_intent_visitor_to_destinations(moment: HighIntentVisitor) -> None:
    """The moment as destinations take it (Slack, webhooks, CRMs with a `high_intent_visitor` rule)."""
    high_intent_visitor_fired(
        workspace_id=moment.workspace_id, customer_id=moment.customer_id, score=moment.score, event_id=moment.event_id
    )
