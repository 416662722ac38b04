"""Identity stitching: which customer an event belongs to, and where it stands on the ladder.

Contract for callers (ingest, integrations, privacy):

    with transaction.atomic():
        # First, whether the person's preferences refuse the event's purpose (identity.purposes):
        # a refused event must be neither resolved (it would apply traits, identifiers, merges) nor
        # stored. Ingest asks IdentityBatch.consent_of(claims) before resolving.
        resolution = event_identity_resolve(workspace=ws, claims=claims, signals=LadderSignals(...),
                                            traits=traits, occurred_at=when)
        Event.objects.create(..., customer_id=resolution.customer_id, rung=resolution.rung,
                             device_hash=<the device claim's value_hash or "">,
                             context={..., "ladder": ladder_context_value(signals)})  # when not None

- `Event.device_hash` and `Visit.device_hash` must be the device claim's `value_hash` (the device
  identifier's hash): device splits move events by it and the rung recompute counts visits by it.
- `Event.context["ladder"]` = "phone" when `LadderSignals.phone_channel` was set, "account" when
  `LadderSignals.account` was set (`ladder_context_value(signals)` gives it): the rung recompute after
  a split or an undo reads it (`customer_rung_recompute`).
- Call it once per event, each in its own transaction if you can: locks are held until your commit.
"""

from identity.stitching.ladder import (
    LADDER_ACCOUNT,
    LADDER_PHONE,
    LadderSignals,
    customer_rung_recompute,
    ladder_context_value,
)
from identity.stitching.resolve import LAST_SEEN_SLACK, Resolution, event_identity_resolve

__all__ = [
    "LADDER_ACCOUNT",
    "LADDER_PHONE",
    "LAST_SEEN_SLACK",
    "LadderSignals",
    "Resolution",
    "customer_rung_recompute",
    "event_identity_resolve",
    "ladder_context_value",
]
