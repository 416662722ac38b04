"""The app with the proposed ingest fix monkeypatched in, for `bench/ingest.py --prototype` only.

Problem measured: a batch resolves its events one by one inside ONE transaction, so it takes the row
locks of its customers (identity/stitching/resolve.py `_lookup`, SELECT … FOR NO KEY UPDATE) and of
its visits (tracking/visits.py `VisitTracker.flush` → `_touch`, one UPDATE per visit) in the order of
its events. Two batches sharing customers in a different order wait on each other: PostgreSQL aborts
one (deadlock detected), `events_ingest` retries the whole batch three times and then answers 503.

Proposed fix (docs/benchmarks.md, "Proposed changes"), prototyped here on the ingest side only;
CLARM_PROTO_LOCK picks the variant:
- `nokey`: every existing owner of every claim of the request locked up front, in primary-key
  order, FOR NO KEY UPDATE (as `_lookup` does); per-event lookups unchanged;
- `keyshare`: the same with FOR KEY SHARE (ingesters do not conflict on it; every event INSERT takes
  it through the customer foreign key anyway), and the per-event lookups take no row lock (merges
  would then lock with FOR UPDATE, which conflicts with KEY SHARE; not done here: the bench has no
  merges);
- `prefetch` (default): `keyshare` plus ONE lookup for the whole request, the events resolved from it.
In every variant the known visits are written in one `UPDATE … FROM (VALUES …)` ordered by id
instead of one UPDATE per visit in event order. Single-event requests are left as they are.
"""

import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction

application = get_wsgi_application()

from identity.models import CustomerStatus, Identifier  # noqa: E402
from identity.stitching import resolve  # noqa: E402
from tracking import services, visits  # noqa: E402

LOCK = os.environ.get("CLARM_PROTO_LOCK", "prefetch")
_original_store = services._store
_original_lookup = resolve._lookup
_original_lookup_known = resolve._lookup_known
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


# CLARM_PROTO_LOCK=prefetch: KEY SHARE up front plus ONE lookup for the whole request (change 1):
# the identifiers of every claim with their owners, read once; an event whose claims are all there
# with one owner is resolved from it (the owner objects are shared, so what `_event_apply` changes
# on one is seen by the next event of the same customer). The first event that misses falls back
# to the per-event lookup and turns the prefetch off for the rest of the request (a merge or a new
# identifier may have changed what it holds).
_prefetched: dict[Any, Any] | None = None


def _prefetch(workspace: Any, prepared: list[Any]) -> None:
    global _prefetched
    claims = [c for p in prepared for c in p.claims.claims]
    found, _ = _lookup_unlocked(workspace, claims)
    _prefetched = found


def _lookup(workspace: Any, claims: list[Any]) -> Any:
    global _prefetched
    if _in_batch and _prefetched is not None:
        hits = {}
        for c in claims:
            ident = _prefetched.get(resolve.claim_key(c))
            if ident is None:
                break
            hits[resolve.claim_key(c)] = ident
        else:
            owners = {i.customer_id: i.customer for i in hits.values()}
            if len(owners) == 1:
                return hits, owners
        _prefetched = None
    if _in_batch and LOCK in ("keyshare", "prefetch"):
        return _lookup_unlocked(workspace, claims)
    return _original_lookup(workspace, claims)


def _lookup_known(workspace: Any, claims: list[Any]) -> Any:
    """The hot-path probe (all claims known, one owner): from the prefetch when it has them, else
    without a row lock inside a batch that holds KEY SHARE on its owners already."""
    global _prefetched
    if _in_batch and _prefetched is not None:
        hits = [h for c in claims if (h := _prefetched.get(resolve.claim_key(c))) is not None]
        if len(hits) == len(claims) and len({h.customer_id for h in hits}) == 1:
            return hits
        _prefetched = None
    if _in_batch and LOCK in ("keyshare", "prefetch"):
        found, owners = _lookup_unlocked(workspace, claims)
        return list(found.values()) if len(found) == len(claims) and len(owners) == 1 else []
    return _original_lookup_known(workspace, claims)


def _owners_lock(workspace_id: int, prepared: list[Any]) -> None:
    pairs = sorted({(c.kind, c.value_hash) for p in prepared for c in p.claims.claims})
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.customer_id FROM unnest(%s::text[], %s::text[]) AS u(kind, value_hash) "
            "JOIN identity_identifier i ON i.workspace_id = %s AND i.kind = u.kind AND i.value_hash = u.value_hash",
            [[k for k, _ in pairs], [h for _, h in pairs], workspace_id],
        )
        ids = sorted({row[0] for row in cursor.fetchall()})
        cursor.execute(
            "SELECT id FROM identity_customer WHERE id = ANY(%s) AND status = 'live' ORDER BY id "
            + ("FOR NO KEY UPDATE" if LOCK == "nokey" else "FOR KEY SHARE"),
            [ids],
        )


def _store(*, workspace: Any, prepared: list[Any], received_at: Any) -> Any:
    if len(prepared) < 2:
        return _original_store(workspace=workspace, prepared=prepared, received_at=received_at)
    global _in_batch, _prefetched
    with transaction.atomic():
        _owners_lock(workspace.pk, prepared)
        if LOCK == "prefetch":
            _prefetch(workspace, prepared)
        _in_batch = True
        try:
            return _original_store(workspace=workspace, prepared=prepared, received_at=received_at)
        finally:
            _in_batch = False
            _prefetched = None


def _flush(self: visits.VisitTracker, *, already_touched: Any = None) -> None:
    known = sorted(
        (s for s in self.touched if s.new_events and s.visit_id is not None and s is not already_touched),
        key=lambda s: s.visit_id or 0,
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
services._store = _store
resolve._lookup = _lookup
resolve._lookup_known = _lookup_known
visits.VisitTracker.flush = _flush  # type: ignore[method-assign]
