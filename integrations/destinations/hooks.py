"""Where destinations are fed. Two entry points, both quick and safe to call from any write path:

- `events_stitched(workspace_id, event_ids)`: THE post-stitch hook. Registered with
  `tracking.hooks` (integrations' AppConfig.ready), it runs after the transaction that stored and
  stitched the events commits, from every write path (`/api/track`, `/v1/*`, inbound webhooks,
  agents), because they all go through `tracking.services.events_ingest`. When DESIGN's stitcher
  lands it announces its batches through the same `tracking.hooks.events_stitched_announce`.
  Event rules and rung crossings (`customer.rung_reached`) come from here.
- `moment_reached(...)` / `high_intent_visitor_fired(...)`: for moments computed elsewhere. The
  intent score calls `high_intent_visitor_fired` after the commit of the score that crossed 70.
- `preferences_changed(workspace_id, customer_ids, changes)`: registered with
  `identity.privacy.hooks`; after a person's opt-out it skips what may no longer be sent and queues
  the opt-out to the CRMs that hold the person.

Neither calls a provider: they add delivery rows (in a Celery task when the queue is up) and queue a
flush. An outage of a provider therefore never slows ingest or stitching."""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.destinations import dispatch
from integrations.destinations.services import (
    deliveries_from_events,
    deliveries_from_moment,
    destination_optouts_apply,
    flush_schedule,
)

logger = logging.getLogger(__name__)


def events_stitched(workspace_id: int, event_ids: list[int]) -> None:
    if not event_ids or not dispatch.workspace_has_destinations(workspace_id):
        return
    if dispatch.process_soon(workspace_id, list(event_ids)):
        return
    # The queue is down: write the rows now (database only, no provider call); the sweep sends them.
    try:
        deliveries_from_events(workspace_id=workspace_id, event_ids=list(event_ids))
    except Exception:
        logger.exception("could not record destination deliveries for workspace %s", workspace_id)


def preferences_changed(workspace_id: int, customer_ids: list[int], changes: dict[str, bool]) -> None:
    """The preferences hook (after commit). Database only: the opt-outs are sent by a flush."""
    if not dispatch.workspace_has_destinations(workspace_id):
        return
    destination_optouts_apply(workspace_id=workspace_id, customer_ids=customer_ids, changes=changes)


def moment_reached(
    *,
    workspace_id: int,
    customer_id: int,
    moment: str,
    key: str,
    data: dict[str, Any] | None = None,
    event_id: int | None = None,
) -> None:
    """A moment (`high_intent_visitor`, `rung_reached`) for one customer. `key` makes it unique per
    destination (the same key twice is one delivery). Call inside or outside a transaction."""
    if not dispatch.workspace_has_destinations(workspace_id):
        return
    destination_ids = deliveries_from_moment(
        workspace_id=workspace_id,
        customer_id=customer_id,
        moment=moment,
        key=key,
        data=data or {},
        event_id=event_id,
    )
    for destination_id in destination_ids:
        flush_schedule(destination_id)


def high_intent_visitor_fired(
    *, workspace_id: int, customer_id: int, score: int, event_id: int | None = None, fired_at: Any = None
) -> None:
    """For the intent score: the customer crossed 70 upward. Each firing (after a re-arm) is its own
    delivery, keyed by when it fired."""
    when = fired_at or timezone.now()
    with transaction.atomic():
        moment_reached(
            workspace_id=workspace_id,
            customer_id=customer_id,
            moment="high_intent_visitor",
            key=when.strftime("%Y%m%dT%H%M%S"),
            data={"score": score},
            event_id=event_id,
        )
