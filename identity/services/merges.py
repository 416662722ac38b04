"""Merges, device splits and their undo.

Every merge or split writes one append-only `MergeLog` row whose `moved` holds what it changed:
`event_ids`, `identifier_ids`, and snapshots of both customers before and after
(`survivor_before`, `merged_before`, `survivor_after`, `merged_after`), plus `created_customer` for
a split that created its receiving customer. For a split, `survivor` is the customer that received
the device and `merged` the customer it was taken from.

The log holds no plain personal data: a personal field (name, company, email, phone, traits) is
snapshotted as a keyed fingerprint (HMAC with the workspace's identifier key), traits also with
their keys. That is all undo needs: a merge only ever fills an empty contact field and adds trait
keys the survivor lacked, so undo empties a filled field and drops the added keys, provided the
fingerprint says the value is still the one the merge left; the merged customer's own personal
fields are never changed by a merge and stay on its row.

Undo puts the events and identifiers back by id and restores each snapshotted field whose current
value is still the one the merge left (a field changed since, e.g. a later opt-out or a name typed
later, keeps its newer value); the rung is then at least what the remaining facts prove.

Locking: callers of the `*_locked` helpers hold `select_for_update(no_key=True)` locks on both
customers, taken in primary-key order.
"""

import hashlib
import hmac
import json
from datetime import datetime
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind, MergeLog, Rung, Suppression
from identity.stitching.ladder import customer_number_next, customer_rung_recompute
from identity.stitching.partitions import partition_lock
from identity.tasks import rollups_customers_schedule
from tracking.models import Event
from workspaces.models import Workspace
from workspaces.services import audit_log_record

CONSENT_FIELDS = ("allow_analytics", "allow_marketing_email", "allow_marketing_sms", "allow_ad_sendback")
SNAPSHOT_FIELDS = (
    "status",
    "merged_into_id",
    "rung",
    "customer_number",
    "name",
    "company",
    "email",
    "phone",
    "traits",
    "first_seen",
    "last_seen",
    *CONSENT_FIELDS,
)
_DATETIME_FIELDS = ("first_seen", "last_seen")
# Suppression column -> Customer consent field.
SUPPRESSION_TO_CONSENT = {
    "analytics": "allow_analytics",
    "marketing_email": "allow_marketing_email",
    "marketing_sms": "allow_marketing_sms",
    "ad_sendback": "allow_ad_sendback",
}


# Personal fields are logged as fingerprints only (see the module docstring).
PERSONAL_FIELDS = ("name", "company", "email", "phone", "traits")


def snapshot_fingerprint(key: str, name: str, value: Any) -> Any:
    """An empty value is logged as it is (it names nobody); any other as a keyed hash, and traits
    with their keys (what undo needs to drop the keys a merge added)."""
    if not value:
        return value
    text = json.dumps(value, sort_keys=True, default=str)
    digest = hmac.new(key.encode(), f"merge-log:{name}:{text}".encode(), hashlib.sha256).hexdigest()
    if name == "traits" and isinstance(value, dict):
        return {"fingerprint": digest, "keys": sorted(value)}
    return {"fingerprint": digest}


def customer_snapshot(customer: Customer) -> dict[str, Any]:
    key = customer.workspace.identifier_key
    snap: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(customer, name)
        if name in PERSONAL_FIELDS:
            snap[name] = snapshot_fingerprint(key, name, value)
        else:
            snap[name] = value.isoformat() if isinstance(value, datetime) else value
    return snap


def _snapshot_value(name: str, value: Any) -> Any:
    if name in _DATETIME_FIELDS and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _move_all(table: str, *, to_id: int, from_id: int) -> list[int]:
    """Re-point every row of one customer at another in one UPDATE ... RETURNING (ids kept for undo)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET customer_id = %s WHERE customer_id = %s RETURNING id",  # noqa: S608 (model table)
            [to_id, from_id],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _events_table() -> str:
    return Event._meta.db_table


def customers_lock(*, workspace: Workspace, ids: list[int]) -> dict[int, Customer]:
    """Lock customers of the workspace in primary-key order (the one order every writer uses)."""
    rows = Customer.objects.select_for_update(no_key=True).filter(workspace=workspace, pk__in=ids).order_by("pk")
    return {c.pk: c for c in rows}


def customers_merge_locked(*, survivor: Customer, merged: Customer, reason: str, actor: User | None = None) -> MergeLog:
    """Merge `merged` into `survivor`: events, identifiers and consent move over (most restrictive
    consent wins), the rung is the higher one, contact fields fill in where the survivor has none."""
    survivor_before, merged_before = customer_snapshot(survivor), customer_snapshot(merged)
    event_ids = _move_all(_events_table(), to_id=survivor.pk, from_id=merged.pk)
    identifier_ids = _move_all(Identifier._meta.db_table, to_id=survivor.pk, from_id=merged.pk)

    survivor.rung = max(survivor.rung, merged.rung)
    for name in CONSENT_FIELDS:
        setattr(survivor, name, getattr(survivor, name) and getattr(merged, name))
    for name in ("email", "phone", "name", "company"):
        if not getattr(survivor, name):
            setattr(survivor, name, getattr(merged, name))
    survivor.traits = {**(merged.traits or {}), **(survivor.traits or {})}
    survivor.first_seen = min(survivor.first_seen, merged.first_seen)
    survivor.last_seen = max(survivor.last_seen, merged.last_seen)
    merged.status = CustomerStatus.MERGED
    merged.merged_into = survivor
    if survivor.customer_number is None and merged.customer_number is not None:
        # Only by hand can a lower-rung survivor be chosen: the person keeps their number.
        survivor.customer_number, merged.customer_number = merged.customer_number, None
    merged.save(update_fields=["status", "merged_into", "customer_number"])
    survivor.save(update_fields=[f.removesuffix("_id") for f in SNAPSHOT_FIELDS if f != "status"])
    return _merge_log_write(
        kind=MergeLog.Kind.MERGE,
        survivor=survivor,
        merged=merged,
        before=(survivor_before, merged_before),
        event_ids=event_ids,
        identifier_ids=identifier_ids,
        reason=reason,
        actor=actor,
    )


def _merge_log_write(
    *,
    kind: str,
    survivor: Customer,
    merged: Customer,
    before: tuple[dict[str, Any], dict[str, Any]],
    event_ids: list[int],
    identifier_ids: list[int],
    reason: str,
    actor: User | None,
    **extra: Any,
) -> MergeLog:
    """The append-only record of what moved, with both customers before and after: what undo reads."""
    return MergeLog.objects.create(
        workspace_id=survivor.workspace_id,
        kind=kind,
        survivor=survivor,
        merged=merged,
        reason=reason[:200],
        actor=actor if actor is not None and actor.is_authenticated else None,
        moved={
            "event_ids": event_ids,
            "identifier_ids": identifier_ids,
            "survivor_before": before[0],
            "merged_before": before[1],
            "survivor_after": customer_snapshot(survivor),
            "merged_after": customer_snapshot(merged),
            **extra,
        },
    )


def _rung_settle(customer: Customer, rung: int) -> None:
    customer.rung = rung
    if rung >= Rung.ACCOUNT and customer.customer_number is None:
        customer.customer_number = customer_number_next(customer.workspace_id)


def devices_move_locked(
    *,
    source: Customer,
    target: Customer,
    identifier_ids: list[int],
    move_events: bool,
    created_target: bool,
    reason: str,
    actor: User | None = None,
) -> MergeLog:
    """Move device identifiers (and, if asked, the source's events from those devices) to `target`.
    When events move (an owner's split) both rungs are recomputed: the source's may go down, the
    target's never does. An automatic shared-device split moves no past events and changes no rung
    here (the event being resolved settles the target's rung and number afterwards, so the workspace
    row is locked last)."""
    source_before, target_before = customer_snapshot(source), customer_snapshot(target)
    hashes = list(Identifier.objects.filter(pk__in=identifier_ids).values_list("value_hash", flat=True))
    Identifier.objects.filter(pk__in=identifier_ids, customer=source).update(customer=target)
    event_ids: list[int] = []
    if move_events and hashes:
        moving = Event.objects.filter(customer=source, device_hash__in=hashes)
        event_ids = sorted(moving.values_list("id", flat=True))
        Event.objects.filter(pk__in=event_ids).update(customer=target)
        for customer in (source, target):
            span = Event.objects.filter(customer=customer).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
            if span["first"] is not None:
                customer.first_seen, customer.last_seen = span["first"], span["last"]
    if move_events:
        _rung_settle(source, customer_rung_recompute(source))
        _rung_settle(target, max(target.rung, customer_rung_recompute(target)))
        fields = ["rung", "customer_number", "first_seen", "last_seen"]
        source.save(update_fields=fields)
        target.save(update_fields=fields)
    return _merge_log_write(
        kind=MergeLog.Kind.SPLIT,
        survivor=target,
        merged=source,
        before=(target_before, source_before),
        event_ids=event_ids,
        identifier_ids=sorted(identifier_ids),
        reason=reason,
        actor=actor,
        created_customer=created_target,
    )


def _user_ids(customer_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {cid: set() for cid in customer_ids}
    rows = Identifier.objects.filter(customer_id__in=customer_ids, kind=IdentifierKind.USER_ID)
    for customer_id, value_hash in rows.values_list("customer_id", "value_hash"):
        out[customer_id].add(value_hash)
    return out


@transaction.atomic
def customers_merge_manual(
    *, workspace: Workspace, survivor: Customer, merged: Customer, actor: User | None
) -> MergeLog:
    """An owner merges two customers of the workspace by hand. Refuses customers with different
    account ids (user_id): those are different people."""
    if survivor.pk == merged.pk:
        raise ValidationError("Pick two different customers to merge.")
    partition_lock(workspace.pk)
    locked = customers_lock(workspace=workspace, ids=[survivor.pk, merged.pk])
    if len(locked) != 2:
        raise ValidationError("Both customers must belong to this workspace.")
    keep, lose = locked[survivor.pk], locked[merged.pk]
    for customer in (keep, lose):
        if customer.status != CustomerStatus.LIVE:
            raise ValidationError(f"{customer} was already merged into another customer.")
    user_ids = _user_ids([keep.pk, lose.pk])
    if user_ids[keep.pk] and user_ids[lose.pk] and user_ids[keep.pk] != user_ids[lose.pk]:
        raise ValidationError(
            f"{keep} and {lose} are signed in with different account ids (user_id): they are different "
            "people and cannot be merged."
        )
    log = customers_merge_locked(survivor=keep, merged=lose, reason="merged by hand", actor=actor)
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="customer.merged",
        target=f"customer:{keep.pk}",
        details={"merged_customer_id": lose.pk, "merge_log_id": log.pk, "events_moved": len(log.moved["event_ids"])},
    )
    transaction.on_commit(partial(rollups_customers_schedule, workspace.pk, [keep.pk, lose.pk]))
    survivor.refresh_from_db()
    merged.refresh_from_db()
    return log


@transaction.atomic
def device_split(*, workspace: Workspace, customer: Customer, identifier: Identifier, actor: User | None) -> MergeLog:
    """An owner says a device is someone else's: the device identifier and the customer's events
    from that device move to a new customer; both rungs are recomputed."""
    partition_lock(workspace.pk)
    locked = customers_lock(workspace=workspace, ids=[customer.pk])
    source = locked.get(customer.pk)
    if source is None or source.status != CustomerStatus.LIVE:
        raise ValidationError("This customer does not exist in this workspace (or was merged away).")
    ident = Identifier.objects.filter(pk=identifier.pk, workspace=workspace, customer=source).first()
    if ident is None:
        raise ValidationError("This identifier does not belong to this customer.")
    if ident.kind != IdentifierKind.DEVICE:
        raise ValidationError(f"Only a device can be split off (this identifier is a {ident.get_kind_display()}).")
    if not Identifier.objects.filter(customer=source).exclude(pk=ident.pk).exists():
        raise ValidationError("This is the customer's only identifier: there is nothing to split it from.")
    new = Customer.objects.create(workspace=workspace)
    log = devices_move_locked(
        source=source,
        target=new,
        identifier_ids=[ident.pk],
        move_events=True,
        created_target=True,
        reason=f"device {ident.masked or ident.value_hash[:8]} split off by hand",
        actor=actor,
    )
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="customer.device_split",
        target=f"customer:{source.pk}",
        details={"new_customer_id": new.pk, "merge_log_id": log.pk, "events_moved": len(log.moved["event_ids"])},
    )
    transaction.on_commit(partial(rollups_customers_schedule, workspace.pk, [source.pk, new.pk]))
    customer.refresh_from_db()
    return log


def _later_log(log: MergeLog, customer_id: int) -> MergeLog | None:
    return (
        MergeLog.objects.filter(workspace_id=log.workspace_id, pk__gt=log.pk, undone_at__isnull=True)
        .filter(merged_id=customer_id)
        .order_by("pk")
        .first()
    )


def _personal_before(customer: Customer, name: str, before: Any) -> Any:
    """The value a personal field had before the logged operation, rebuilt from its fingerprint: an
    empty value was logged as it was; traits lose the keys the operation added."""
    if not isinstance(before, dict) or "fingerprint" not in before:
        return before
    if name == "traits":
        kept = set(before.get("keys", []))
        return {k: v for k, v in (customer.traits or {}).items() if k in kept}
    return getattr(customer, name)  # never changed by a merge or split: nothing to put back


def _restore(customer: Customer, *, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Put back each field the logged operation changed and nobody changed since."""
    current = customer_snapshot(customer)
    for name in SNAPSHOT_FIELDS:
        if name in ("status", "merged_into_id") or name not in before:
            continue
        if current[name] == after.get(name) and before[name] != after.get(name):
            if name in PERSONAL_FIELDS:
                setattr(customer, name, _personal_before(customer, name, before[name]))
            else:
                setattr(customer, name, _snapshot_value(name, before[name]))


def _suppressions_apply(customer: Customer) -> None:
    """An opt-out held in the suppression list for any of the customer's identifiers stays in force."""
    pairs = list(Identifier.objects.filter(customer=customer).values_list("kind", "value_hash"))
    if not pairs:
        return
    rows = Suppression.objects.filter(
        workspace_id=customer.workspace_id,
        kind__in={k for k, _ in pairs},
        value_hash__in={h for _, h in pairs},
    )
    for row in rows:
        for column, consent in SUPPRESSION_TO_CONSENT.items():
            if getattr(row, column):
                setattr(customer, consent, False)


def _undo_refuse_if_depended(log: MergeLog, survivor: Customer, merged: Customer) -> None:
    moved = log.moved
    for customer in (survivor, merged) if log.kind == MergeLog.Kind.SPLIT else (survivor,):
        if customer.status != CustomerStatus.LIVE:
            later = _later_log(log, customer.pk)
            ref = f" (merge log #{later.pk})" if later else ""
            raise ValidationError(f"{customer} was merged into another customer later{ref}: undo that merge first.")
    if log.kind == MergeLog.Kind.MERGE and (
        merged.status != CustomerStatus.MERGED or merged.merged_into_id != survivor.pk
    ):
        raise ValidationError(f"{merged} is no longer merged into {survivor}; this merge cannot be undone.")
    taken = Identifier.objects.filter(pk__in=moved.get("identifier_ids", [])).exclude(customer=survivor).exists()
    taken = taken or Event.objects.filter(pk__in=moved.get("event_ids", [])).exclude(customer=survivor).exists()
    if taken:
        later = (
            MergeLog.objects.filter(workspace_id=log.workspace_id, pk__gt=log.pk, undone_at__isnull=True)
            .filter(merged_id=survivor.pk)
            .order_by("-pk")
            .first()
        )
        ref = f" by merge log #{later.pk}" if later else ""
        raise ValidationError(f"Part of what this moved was moved again later{ref}: undo that first.")


@transaction.atomic
def merge_undo(*, workspace: Workspace, merge_log: MergeLog, actor: User | None) -> MergeLog:
    """Undo a merge or a split exactly. Refused (ValidationError) when it was already undone or when a
    later merge or split depends on it (undo that one first)."""
    partition_lock(workspace.pk)
    log = MergeLog.objects.select_for_update().filter(pk=merge_log.pk, workspace=workspace).first()
    if log is None:
        raise ValidationError("This merge does not exist in this workspace.")
    if log.undone_at is not None:
        raise ValidationError(
            f"This {log.get_kind_display().lower()} was already undone on {log.undone_at:%Y-%m-%d %H:%M}."
        )
    locked = customers_lock(workspace=workspace, ids=[log.survivor_id, log.merged_id])
    survivor, merged = locked[log.survivor_id], locked[log.merged_id]
    _undo_refuse_if_depended(log, survivor, merged)

    moved = log.moved
    Identifier.objects.filter(pk__in=moved.get("identifier_ids", []), customer=survivor).update(customer=merged)
    Event.objects.filter(pk__in=moved.get("event_ids", []), customer=survivor).update(customer=merged)

    _restore(survivor, before=moved.get("survivor_before", {}), after=moved.get("survivor_after", {}))
    if log.kind == MergeLog.Kind.MERGE:
        before = moved["merged_before"]
        for name in SNAPSHOT_FIELDS:
            if name not in PERSONAL_FIELDS:  # a merge leaves the merged customer's own data in place
                setattr(merged, name, _snapshot_value(name, before[name]))
    else:
        _restore(merged, before=moved.get("merged_before", {}), after=moved.get("merged_after", {}))

    for customer in (survivor, merged):
        _suppressions_apply(customer)
    survivor.rung = max(survivor.rung, customer_rung_recompute(survivor))
    merged.rung = max(merged.rung, customer_rung_recompute(merged))
    retire = (
        log.kind == MergeLog.Kind.SPLIT
        and moved.get("created_customer")
        and not Identifier.objects.filter(customer=survivor).exists()
        and not Event.objects.filter(customer=survivor).exists()
    )
    if retire:
        # The customer the split created is empty again; it is kept (the log points at it) but retired.
        survivor.status, survivor.merged_into = CustomerStatus.MERGED, merged
    # Whoever gives a customer number back saves first (the number is unique per workspace).
    order = [survivor, merged] if survivor.customer_number is None else [merged, survivor]
    for customer in order:
        customer.save(update_fields=[f.removesuffix("_id") for f in SNAPSHOT_FIELDS])
    for customer in (survivor, merged):
        if (
            customer.status == CustomerStatus.LIVE
            and customer.rung >= Rung.ACCOUNT
            and customer.customer_number is None
        ):
            customer.customer_number = customer_number_next(workspace.pk)
            customer.save(update_fields=["customer_number"])

    log.undone_at = timezone.now()
    log.save(update_fields=["undone_at"])
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action=f"customer.{log.kind}_undone",
        target=f"merge_log:{log.pk}",
        details={
            "survivor_id": survivor.pk,
            "merged_id": merged.pk,
            "events_moved_back": len(moved.get("event_ids", [])),
            "identifiers_moved_back": len(moved.get("identifier_ids", [])),
        },
    )
    transaction.on_commit(partial(rollups_customers_schedule, workspace.pk, [survivor.pk, merged.pk]))
    return log
