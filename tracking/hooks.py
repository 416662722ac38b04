"""The post-stitch hook: the one place ingest announces events that are stored and stitched.

`events_stitched_announce(workspace_id, event_ids)` runs every registered receiver after the
transaction that wrote the events commits (at once when there is none). Processors above tracking
(destinations today; intent scoring and agents later) register a receiver in their AppConfig.ready(),
so tracking never imports them. When the stitcher of DESIGN's pipeline lands, it calls this same
function after its batch commits, and nothing downstream changes.

A receiver must be quick (queue work, never call a provider) and never raise: a failing receiver is
logged and the others still run; the events are already committed."""

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

StitchedReceiver = Callable[[int, list[int]], None]
_receivers: list[StitchedReceiver] = []


def stitched_receiver_register(receiver: StitchedReceiver) -> None:
    if receiver not in _receivers:
        _receivers.append(receiver)


def _run(workspace_id: int, event_ids: list[int]) -> None:
    for receiver in list(_receivers):
        try:
            receiver(workspace_id, event_ids)
        except Exception:
            logger.exception("post-stitch receiver %s failed for workspace %s", receiver, workspace_id)


def events_stitched_announce(workspace_id: int, event_ids: list[int]) -> None:
    if not event_ids or not _receivers:
        return
    ids = list(event_ids)
    transaction.on_commit(lambda: _run(workspace_id, ids))


AppendedReceiver = Callable[[int], None]
_appended_receivers: list[AppendedReceiver] = []


def appended_receiver_register(receiver: AppendedReceiver) -> None:
    """The layer above (identity's stitcher, in CLARM_STITCH_INLINE mode) hears of appends here."""
    if receiver not in _appended_receivers:
        _appended_receivers.append(receiver)


def events_appended_announce(workspace_id: int) -> None:
    """The edge appended events of this workspace: tell the receivers now, in the appending process
    and inside its transaction if there is one (an inline stitch is then part of the same commit).
    A receiver that fails is logged; the events are appended and a stitcher will take them."""
    for receiver in list(_appended_receivers):
        try:
            receiver(workspace_id)
        except Exception:
            logger.exception("append receiver %s failed for workspace %s", receiver, workspace_id)
