"""The per-event slow path of the ONE resolver (identity.stitching.batch.IdentityBatch), and what
one event changes on its customer.

`resolve_locked`: one event whose claims are not all known and owned by one live customer (new
identifiers, several owners, guards). Each attempt runs in its own savepoint: owners are locked in
primary-key order in one query, then re-read; creation races (unique identifiers), concurrent splits
and deadlocks are retried from the start. IdentityBatch resolves the common case (every claim known,
one live owner) in memory and calls this for the rest.

`event_changes`: what one event changes on its customer (rung, contact values, traits, first/last
seen). `last_seen` is only written when the event is more than 60 s after the stored value
(LAST_SEEN_SLACK), so a burst of page views does not rewrite the customer row each time;
`last_seen` is therefore exact to within 60 s.

Suppression: the hashed suppression list is consulted on the slow path, for every claim of the event
(a new identifier of a person erased earlier brings back their opt-out onto the customer it creates
or joins). Whether an event may be applied at all is decided BEFORE resolving it (tracking.purposes;
the stitcher asks `IdentityBatch.consent_of`): resolving applies the event. An event that would
create a customer from claims opted out of analytics creates nothing (`suppressed`, no customer),
so an erased person who opted out is never re-created.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.db.models import Q

from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind, Rung, Suppression
from identity.services.merges import (
    SUPPRESSION_TO_CONSENT,
    customers_merge_locked,
    devices_move_locked,
)
from identity.stitching.ladder import customer_number_next, rung_from_event
from identity.stitching.plan import IDENTIFYING_KINDS, ClaimKey, OwnerInfo, claim_key, stitch_plan
from tracking.ladder import LadderSignals
from tracking.normalize import IdentifierClaim
from workspaces.models import Workspace

LAST_SEEN_SLACK = timedelta(seconds=60)
MAX_ATTEMPTS = 8
# Trait keys that are identifiers (they arrive as claims) rather than profile traits.
_NOT_TRAITS = frozenset({"email", "phone", "user_id", "userId", "anonymousId", "visitor_id", "name", "company"})


@dataclass(frozen=True)
class Resolution:
    customer_id: int | None  # None only when the event carries no identifier at all
    rung: int  # the customer's rung right after this event (store it on the event)
    # The customer (or a suppression-list row of any claim) opted out of analytics. Informational: by
    # now the event is applied; a caller refuses events before resolving them (tracking.purposes).
    suppressed: bool
    created: bool = False  # a new customer was created
    merged_customer_ids: tuple[int, ...] = ()  # customers merged away by this event
    # Customers a device identifier was moved away from by this event (shared-device guard).
    moved_from_customer_ids: tuple[int, ...] = ()


class _StaleRead(DatabaseError):
    """What the lookup saw changed before its locks were taken: start again (a DatabaseError if it
    still happens after MAX_ATTEMPTS, so callers treat it like any failed write)."""


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def resolve_locked(
    *,
    workspace: Workspace,
    claims: list[IdentifierClaim],
    signals: LadderSignals,
    traits: dict[str, Any],
    occurred_at: datetime,
) -> Resolution:
    """The general path for one event's distinct claims (sorted by claim_key): owners locked in key
    order, then attach, merge or split; each attempt in its own savepoint, retried on creation races,
    concurrent splits and deadlocks. Must run inside the caller's transaction (IdentityBatch's)."""
    unique = claims
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            # Each attempt in a savepoint: a retry starts holding none of the locks of the failed one,
            # so two writers retrying at once cannot wait on each other in a cycle.
            with transaction.atomic():
                found, owners = _lookup(workspace, unique)
                if len(found) == len(unique) and len(owners) == 1:
                    return _event_apply(
                        next(iter(owners.values())),
                        owned=list(found.values()),
                        claims=unique,
                        signals=signals,
                        traits=traits,
                        occurred_at=occurred_at,
                        created=False,
                    )
                return _resolve_slow(workspace, unique, found, owners, signals, traits, occurred_at)
        except (IntegrityError, _StaleRead):
            # Another writer got there first (a unique identifier, a concurrent split): read again.
            if attempt == MAX_ATTEMPTS:
                raise
        except OperationalError as exc:
            if attempt == MAX_ATTEMPTS or not _is_deadlock(exc):
                raise
    raise AssertionError("unreachable")


def _claims_q(claims: list[IdentifierClaim]) -> Q:
    q = Q()
    for claim in claims:
        q |= Q(kind=claim.kind, value_hash=claim.value_hash)
    return q


def _lookup(
    workspace: Workspace, claims: list[IdentifierClaim]
) -> tuple[dict[ClaimKey, Identifier], dict[int, Customer]]:
    """ONE query: the identifiers of the claims with their live owners, owners locked in key order."""
    rows = list(
        Identifier.objects.filter(_claims_q(claims), workspace=workspace, customer__status=CustomerStatus.LIVE)
        .select_related("customer")
        .select_for_update(of=("customer",), no_key=True)
        .order_by("customer_id", "id")
    )
    return {(i.kind, i.value_hash): i for i in rows}, {i.customer_id: i.customer for i in rows}


def _resolve_slow(
    workspace: Workspace,
    claims: list[IdentifierClaim],
    found: dict[ClaimKey, Identifier],
    owners: dict[int, Customer],
    signals: LadderSignals,
    traits: dict[str, Any],
    occurred_at: datetime,
) -> Resolution:
    # Re-read the owners' identifying identifiers now that they are locked; a claim whose owner
    # changed in between (a concurrent split) means starting again.
    identified: dict[int, dict[str, set[str]]] = {cid: {} for cid in owners}
    seen: dict[int, int] = {}
    found_ids = [i.pk for i in found.values()]
    for pk, customer_id, kind, value_hash in (
        Identifier.objects.filter(customer_id__in=list(owners))
        .filter(Q(kind__in=IDENTIFYING_KINDS) | Q(pk__in=found_ids))
        .values_list("id", "customer_id", "kind", "value_hash")
    ):
        seen[pk] = customer_id
        if kind in IDENTIFYING_KINDS:
            identified[customer_id].setdefault(kind, set()).add(value_hash)
    if any(seen.get(i.pk) != i.customer_id for i in found.values()):
        raise _StaleRead

    plan = stitch_plan(
        claims=claims,
        found={key: (i.pk, i.customer_id) for key, i in found.items()},
        owners={
            cid: OwnerInfo(
                customer_id=cid,
                rung=c.rung,
                first_seen=c.first_seen,
                identified={k: frozenset(v) for k, v in identified[cid].items()},
            )
            for cid, c in owners.items()
        },
    )
    # The hashed suppression list, for every claim of the event (it outlives an erasure).
    wanted = set(map(claim_key, claims))
    opted_out = {
        column
        for row in Suppression.objects.filter(
            workspace=workspace, kind__in={c.kind for c in claims}, value_hash__in={c.value_hash for c in claims}
        )
        if (row.kind, row.value_hash) in wanted
        for column in SUPPRESSION_TO_CONSENT
        if getattr(row, column)
    }
    created = plan.target_id is None
    if created and "analytics" in opted_out:
        # A person opted out of analytics (perhaps since erased) is never created again from a
        # suppressed event: nothing is written, the caller drops or keeps the event unstitched.
        return Resolution(customer_id=None, rung=Rung.DEVICE, suppressed=True, created=False, merged_customer_ids=())
    target = (
        Customer.objects.create(workspace=workspace, first_seen=occurred_at, last_seen=occurred_at)
        if plan.target_id is None
        else owners[plan.target_id]
    )
    for merged_id in plan.merge_ids:
        customers_merge_locked(
            survivor=target,
            merged=owners[merged_id],
            reason="stitched: identifiers of both arrived in one event",
        )
    sources: dict[int, list[int]] = {}
    for identifier_id, source_id in plan.device_moves:
        sources.setdefault(source_id, []).append(identifier_id)
    for source_id, identifier_ids in sorted(sources.items()):
        devices_move_locked(
            source=owners[source_id],
            target=target,
            identifier_ids=identifier_ids,
            move_events=False,
            created_target=False,
            reason="shared device: a different person identified on it",
        )
    new_identifiers = Identifier.objects.bulk_create(
        [
            Identifier(workspace=workspace, customer=target, kind=c.kind, value_hash=c.value_hash, masked=c.masked)
            for c in plan.attach
        ]
    )

    merged_or_target = {target.pk, *plan.merge_ids}
    moved_ids = {identifier_id for identifier_id, _ in plan.device_moves}
    owned = [i for i in found.values() if i.customer_id in merged_or_target or i.pk in moved_ids]
    for ident in owned:
        ident.customer_id = target.pk
    owned += new_identifiers

    consent_off = {
        consent: False
        for column, consent in SUPPRESSION_TO_CONSENT.items()
        if column in opted_out and getattr(target, consent)
    }

    resolution = _event_apply(
        target,
        owned=owned,
        claims=claims,
        signals=signals,
        traits=traits,
        occurred_at=occurred_at,
        created=created,
        extra_changes=consent_off,
    )
    return Resolution(
        customer_id=resolution.customer_id,
        rung=resolution.rung,
        suppressed=resolution.suppressed,
        created=created,
        merged_customer_ids=tuple(plan.merge_ids),
        moved_from_customer_ids=tuple(sorted(sources)),
    )


def traits_split(traits: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    def text(value: Any) -> str:
        if isinstance(value, dict):  # Segment sends company as an object
            value = value.get("name")
        return str(value).strip()[:200] if isinstance(value, str | int | float) and not isinstance(value, bool) else ""

    extra = {k: v for k, v in traits.items() if isinstance(k, str) and k not in _NOT_TRAITS}
    return text(traits.get("name")), text(traits.get("company")), extra


def event_changes(
    customer: Any,
    *,
    claims: list[IdentifierClaim],
    signals: LadderSignals,
    traits: dict[str, Any],
    occurred_at: datetime,
    extra: dict[str, Any] | None = None,
    number_pending: bool = False,
) -> tuple[dict[str, Any], bool]:
    """What one event changes on its customer (a Customer, or anything with its attributes), given the
    claims it owns: rung, contact values, traits, first/last seen; and whether it needs a customer
    number (taken by the caller: it locks the workspace row). `last_seen` moves only with another
    change or when more than LAST_SEEN_SLACK behind. Pure: writes nothing."""
    changes: dict[str, Any] = dict(extra or {})
    rung = max(customer.rung, rung_from_event(kinds={c.kind for c in claims}, signals=signals))
    if rung != customer.rung:
        changes["rung"] = rung
    needs_number = rung >= Rung.ACCOUNT and customer.customer_number is None and not number_pending
    for kind, field in ((IdentifierKind.EMAIL, "email"), (IdentifierKind.PHONE, "phone")):
        if not getattr(customer, field):
            plain = next((c.plain for c in claims if c.kind == kind and c.plain), "")
            if plain:
                changes[field] = plain
    name, company, extra_traits = traits_split(traits or {})
    if name and name != customer.name:
        changes["name"] = name
    if company and company != customer.company:
        changes["company"] = company
    if extra_traits and any(customer.traits.get(k) != v for k, v in extra_traits.items()):
        changes["traits"] = {**customer.traits, **extra_traits}
    if occurred_at < customer.first_seen:
        changes["first_seen"] = occurred_at
    moved = changes or needs_number
    if occurred_at > customer.last_seen and (moved or occurred_at - customer.last_seen > LAST_SEEN_SLACK):
        changes["last_seen"] = occurred_at
    return changes, needs_number


def _event_apply(
    customer: Customer,
    *,
    owned: list[Identifier],
    claims: list[IdentifierClaim],
    signals: LadderSignals,
    traits: dict[str, Any],
    occurred_at: datetime,
    created: bool,
    extra_changes: dict[str, Any] | None = None,
) -> Resolution:
    """Apply one event to its customer: rung, number, contact values, traits, first/last seen, and the
    devices' visit counts. Writes only what changed (nothing at all for a repeat page view)."""
    owned_keys = {(i.kind, i.value_hash) for i in owned}
    owned_claims = [c for c in claims if claim_key(c) in owned_keys]
    changes, needs_number = event_changes(
        customer, claims=owned_claims, signals=signals, traits=traits, occurred_at=occurred_at, extra=extra_changes
    )
    if needs_number:
        changes["customer_number"] = customer_number_next(customer.workspace_id)
    if changes:
        Customer.objects.filter(pk=customer.pk).update(**changes)
        for field, value in changes.items():
            setattr(customer, field, value)

    if signals.device_visit_count:
        behind = [i.pk for i in owned if i.kind == IdentifierKind.DEVICE and i.visit_count < signals.device_visit_count]
        if behind:
            Identifier.objects.filter(pk__in=behind, visit_count__lt=signals.device_visit_count).update(
                visit_count=signals.device_visit_count
            )
    return Resolution(
        customer_id=customer.pk,
        rung=customer.rung,
        suppressed=not customer.allow_analytics,
        created=created,
        merged_customer_ids=(),
    )
