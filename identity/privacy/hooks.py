"""The preferences hook: the one place the privacy area announces that a person's preferences changed.

`preferences_changed_announce(workspace_id, customer_ids, changes)` runs every registered receiver
after the transaction that changed them commits (at once when there is none). `customer_ids` are the
person's customers (the live one first, then those merged into it); `changes` are the preferences
that changed (`{"marketing_email": False}`, True = allowed). Every change of a known person's
preferences goes through `identity.privacy.services.preferences_update` (the preferences page, the
workspace, the API, consent events, STOP and unsubscribe), which announces here.

Processors above identity (destinations: opt-outs pushed to CRMs, ad send-back stopped) register a
receiver in their AppConfig.ready(), so identity never imports them. A receiver must be quick (queue
work, never call a provider) and never raise: a failing receiver is logged and the others still run."""

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

PreferencesReceiver = Callable[[int, list[int], dict[str, bool]], None]
_receivers: list[PreferencesReceiver] = []


def preferences_receiver_register(receiver: PreferencesReceiver) -> None:
    if receiver not in _receivers:
        _receivers.append(receiver)


def _run(workspace_id: int, customer_ids: list[int], changes: dict[str, bool]) -> None:
    for receiver in list(_receivers):
        try:
            receiver(workspace_id, customer_ids, changes)
        except Exception:
            logger.exception("preferences receiver %s failed for workspace %s", receiver, workspace_id)


def preferences_changed_announce(workspace_id: int, customer_ids: list[int], changes: dict[str, bool]) -> None:
    if not changes or not customer_ids or not _receivers:
        return
    ids, changed = list(customer_ids), dict(changes)
    transaction.on_commit(lambda: _run(workspace_id, ids, changed))
