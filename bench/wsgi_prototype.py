"""The app with the proposed ingest fix monkeypatched in, for `bench/ingest.py --prototype` only.

Problem measured: a batch resolves its events one by one inside ONE transaction, so it takes the row
locks of its customers (identity/stitching/resolve.py `_lookup`, SELECT … FOR NO KEY UPDATE) and of
its visits (tracking/visits.py `VisitTracker.flush` → `_touch`, one UPDATE per visit) in the order of
its events. Two batches sharing customers in a different order wait on each other: PostgreSQL aborts
one (deadlock detected), `events_ingest` retries the whole batch three times and then answers 500.

Proposed fix (tracking/services.py `_store`, tracking/visits.py `flush`), two variants:
1. at the start of the ingest transaction, lock every existing owner of every claim of the request
   in primary-key order, in one statement; the per-event lookups then only re-take locks already held
   (CLARM_PROTO_LOCK=nokey: FOR NO KEY UPDATE, as `_lookup` does today: no deadlock, but two
   batches sharing a customer now run one after the other);
   CLARM_PROTO_LOCK=keyshare (default): FOR KEY SHARE, which ingesters do not conflict on (every
   event INSERT already takes it through the customer foreign key) and the per-event lookups of the
   batch take no row lock; merges would then lock the customers they merge with FOR UPDATE (which
   conflicts with KEY SHARE) so an event is never attached to a customer being merged away;
2. write the known visits in one `UPDATE … FROM (VALUES …)` ordered by id instead of one UPDATE per
   visit in event order (fewer round trips, and a fixed lock order).
"""

import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction

application = get_wsgi_application()

from identity.models import CustomerStatus, Identifier  # noqa: E402
from identity.stitching import resolve  # noqa: E402
from tracking import services, visits  # noqa: E402

LOCK = os.environ.get("CLARM_PROTO_LOCK", "keyshare")
_original_store = services._store
_original_lookup = resolve._lookup
_in_batch = False


def _lookup_unlocked(workspace: Any, claims: list[Any]) -> Any:
    """`resolve._lookup` without its row lock (the batch holds KEY SHARE on the owners already)."""
    wanted = set(map(resolve.claim_key, claims))
    rows = [
        ident
        for ident in Identifier.objects.filter(
            workspace=workspace,
            kind__in={c.kind for c in claims},
            value_hash__in={c.value_hash for c in claims},
            customer__status=CustomerStatus.LIVE,
        )
        .select_related("customer")
        .order_by("customer_id", "id")
        if (ident.kind, ident.value_hash) in wanted
    ]
    return {(i.kind, i.value_hash): i for i in rows}, {i.customer_id: i.customer for i in rows}


def _lookup(workspace: Any, claims: list[Any]) -> Any:
    if _in_batch and LOCK == "keyshare":
        return _lookup_unlocked(workspace, claims)
    return _original_lookup(workspace, claims)


def _owners_lock(workspace_id: int, prepared: list[Any]) -> None:
    pairs = sorted({(c.kind, c.value_hash) for p in prepared for c in p.claims.claims})
    if not pairs:
        return
    values = ", ".join(["(%s, %s)"] * len(pairs))
    params: list[Any] = [workspace_id]
    for kind, value_hash in pairs:
        params += [kind, value_hash]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id FROM identity_customer c WHERE c.status = 'live' AND c.id IN ("
            "SELECT i.customer_id FROM identity_identifier i WHERE i.workspace_id = %s "
            f"AND (i.kind, i.value_hash) IN ({values})) ORDER BY c.id "
            + ("FOR KEY SHARE" if LOCK == "keyshare" else "FOR NO KEY UPDATE"),
            params,
        )


def _store(*, workspace: Any, prepared: list[Any], received_at: Any) -> Any:
    if len(prepared) < 2:
        return _original_store(workspace=workspace, prepared=prepared, received_at=received_at)
    global _in_batch
    with transaction.atomic():
        _owners_lock(workspace.pk, prepared)
        _in_batch = True
        try:
            return _original_store(workspace=workspace, prepared=prepared, received_at=received_at)
        finally:
            _in_batch = False


def _flush(self: visits.VisitTracker, *, already_touched: Any = None) -> None:
    known = sorted(
        (s for s in self.touched if s.new_events and s.visit_id is not None and s is not already_touched),
        key=lambda s: s.visit_id,
    )
    if len(known) > 1:
        rows = ", ".join(["(%s::bigint, %s::timestamptz, %s::integer)"] * len(known))
        params: list[Any] = []
        for s in known:
            params += [s.visit_id, s.last_at, s.new_events]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tracking_visit v SET last_event_at = GREATEST(v.last_event_at, x.last_at), "
                f"event_count = v.event_count + x.n FROM (VALUES {rows}) AS x(id, last_at, n) WHERE v.id = x.id",
                params,
            )
        done = {id(s) for s in known}
        original_touch = self._touch
        self._touch = lambda state: None if id(state) in done else original_touch(state)  # type: ignore[method-assign]
        try:
            _original_flush(self, already_touched=already_touched)
        finally:
            self._touch = original_touch  # type: ignore[method-assign]
        return
    _original_flush(self, already_touched=already_touched)


_original_flush = visits.VisitTracker.flush
services._store = _store  # type: ignore[assignment]
resolve._lookup = _lookup  # type: ignore[assignment]
visits.VisitTracker.flush = _flush  # type: ignore[method-assign]
