"""The known-device lane of ingest (PostgreSQL): a returning device's page views in one statement.

Most of what a site sends is page views, clicks and scrolls of devices already seen, in a visit
already under way, of a person whose record those events do not change. For those the visit cache
(tracking.visits) already knows the visit and the device's owner, so the lane needs no lookup and no
transaction of its own: `tracking.eventwrite.known_device_events_write` stores them in one
statement that first re-checks, under shared locks, everything the cache claimed.

The lane takes an event only when all of these hold, and leaves it (and every event of the same
device or the same customer in the request) to the full path otherwise:
- its only identifier is a device (no email, phone, user id, external id, traits or ladder signal),
  it is not a bot's and not a consent choice, and it has a message id;
- the cache has the device's current visit and its owner, and the event continues that visit.
What the re-check rejects goes to the full path too, so a stale cache costs time, never correctness.
"""

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction

from identity.models import IdentifierKind
from identity.stitching import LAST_SEEN_SLACK, LadderSignals
from identity.stitching.ladder import rung_from_event
from tracking.eventwrite import KnownDeviceOutcome, known_device_events_write
from tracking.visits import VisitState, VisitTracker, visits_cache_write

logger = logging.getLogger(__name__)


@dataclass
class LaneEvent:
    """One event of a request, as the lane sees it. `row` is its event row (tracking.eventwrite
    COLUMNS) without customer, rung or visit; `eligible` is the caller's verdict on the event alone."""

    row: dict[str, Any]
    eligible: bool


def known_devices_write(*, workspace_id: int, events: list[LaneEvent]) -> list[KnownDeviceOutcome | None]:
    """Store what the lane can of these events (in their order); for each event its outcome, or None
    when the full path must take it (not tried, or not confirmed: nothing of it was written)."""
    out: list[KnownDeviceOutcome | None] = [None] * len(events)
    if connection.vendor != "postgresql" or not any(e.eligible for e in events):
        return out
    devices = {e.row["device_hash"] for e in events if e.row["device_hash"]}
    tracker = VisitTracker(workspace_id=workspace_id, device_hashes=devices)  # the cache only
    refused_devices: set[str] = set()
    refused_customers: set[int] = set()
    planned: list[tuple[int, VisitState]] = []
    for index, event in enumerate(events):
        device = event.row["device_hash"]
        state = tracker.current.get(device)
        if not event.eligible or state is None or state.visit_id is None or state.customer_id is None:
            refused_devices.add(device)
            if state is not None and state.customer_id is not None:
                refused_customers.add(state.customer_id)
            continue
        owner = state.customer_id
        state, starts = tracker.assign(
            device_hash=device, session_id=event.row["session_id"] or None, at=event.row["occurred_at"], landing={}
        )
        if starts:  # a new visit (its state knows no owner yet): the full path starts it
            refused_devices.add(device)
            refused_customers.add(owner)
            continue
        planned.append((index, state))
    planned = [
        (index, state)
        for index, state in planned
        if state.device_hash not in refused_devices and state.customer_id not in refused_customers
    ]
    if not planned:
        return out
    rows = []
    for index, state in planned:
        signals = LadderSignals(device_visit_count=state.number)
        row = dict(events[index].row, customer_id=state.customer_id, session_id=state.session_id, rung=0)
        row["min_rung"] = rung_from_event(kinds={IdentifierKind.DEVICE}, signals=signals)
        row["visit_count"] = state.number
        row["visit_id"] = state.visit_id
        rows.append(row)
    try:
        outcomes = known_device_events_write(rows, last_seen_slack=LAST_SEEN_SLACK)
    except (IntegrityError, OperationalError):
        if connection.in_atomic_block:
            raise
        # A conflict with a concurrent request (e.g. a deadlock on a repeated message id): this
        # statement rolled back whole; the full path takes these events (it retries conflicts).
        logger.warning("known-device lane conflict; using the full path", exc_info=True)
        return out
    stored: dict[int, VisitState] = {}
    for (index, state), outcome in zip(planned, outcomes, strict=True):
        if outcome.confirmed:
            out[index] = outcome
            if outcome.event_id is not None:
                stored[id(state)] = state
    current = [s for s in stored.values() if tracker.current.get(s.device_hash) is s and s.cache_stale()]
    if current:
        # At once in autocommit; inside a caller's transaction, only if it commits.
        transaction.on_commit(lambda: visits_cache_write(workspace_id, current))
    return out
