"""Identity stitching: which customer an event belongs to, and where it stands on the ladder.

There is ONE resolver: `identity.stitching.batch.IdentityBatch`, run by the stitcher
(identity.stitching.stitcher) over a batch of pending events in receive order. Nothing else
resolves events: a caller that has events sends them through the pipeline, `tracking.services.events_ingest`
(the edge; a stitcher stores them after), or `stitcher.events_ingest_stitched` when it needs the
customer as soon as it returns (provider webhooks processed by a worker, agents, the demo, tests).
Ladder signals travel on the event (`EventInput.phone_channel`, `.account_signal`); a device's visit
count is its number of visits (sessions), which the stitcher counts.

What the pipeline stores and the rest of identity reads back:
- `Event.device_hash` and `Visit.device_hash` are the device claim's `value_hash` (the device
  identifier's hash): device splits move events by it and the rung recompute counts visits by it.
- `Event.context["ladder"]` = "phone" for an event with a phone-channel signal, "account" for one
  with an account signal (`ladder_context_value(signals)`): the rung recompute after a split or an
  undo reads it (`customer_rung_recompute`).
"""

from identity.stitching.ladder import customer_rung_recompute
from identity.stitching.resolve import LAST_SEEN_SLACK, Resolution
from tracking.ladder import LADDER_ACCOUNT, LADDER_PHONE, LadderSignals, ladder_context_value

__all__ = [
    "LADDER_ACCOUNT",
    "LADDER_PHONE",
    "LAST_SEEN_SLACK",
    "LadderSignals",
    "Resolution",
    "customer_rung_recompute",
    "ladder_context_value",
]
