"""Retention (DESIGN, "Privacy model"): nightly, per workspace, data older than the workspace's
retention period goes, in bounded batches, and each run is recorded.

What goes, with `cutoff` = now − `retention_months` (an instant exactly at the cutoff stays):
- events that occurred before it (on PostgreSQL, first whole months older than every workspace's
  window, in one DROP each: `event_months_drop`, run once a night before the workspaces' purges;
  then the rest row by row), visits whose last event is older, raw webhook payloads received
  before it, messages created before it (and conversations left empty), tracked links made before
  it for a person or a message, merge logs written before it, the dedupe keys (message ids)
  received before it, and pending events received before it (set aside by the stitchers);
- every person with nothing left inside the window (no event, no message; created before the
  cutoff) is deleted as an erasure deletes them, except that their consent records stay as proof
  (unlinked from the customer). A person who opted out leaves only the hashed suppression rows of
  every identifier they had;
- consent records older than `CLARM_CONSENT_PROOF_MONTHS` (default 60: five years, the usual
  limitation period for a claim about consent). They hold no plain personal data: a device hash,
  the purpose, the choice and the text shown.

Kept customers whose `first_seen` falls before the cutoff get the time of their earliest remaining
event (or the cutoff), and merge-log snapshots inside the window that still hold a purged date get
the cutoff instead, so no purged date survives.
"""

import logging
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from identity.models import ConsentRecord, Customer, CustomerStatus, MergeLog, RetentionRun
from identity.privacy.erasure import subject_delete
from identity.privacy.holders import holders
from identity.privacy.subjects import subject_get
from tracking.models import DedupeKey, Event, PendingEvent, Visit
from tracking.partitions import event_month_drop, event_months
from workspaces.models import Workspace
from workspaces.retention import months_before, retention_cutoff, retention_horizon

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
SNAPSHOT_DATES = ("first_seen", "last_seen")


def event_months_drop(*, now: datetime | None = None) -> dict[int, int]:
    """Drop whole every month of events (tracking.partitions, PostgreSQL) that ends before the
    retention horizon: older than every workspace's window, it holds only events retention deletes
    anyway, and one DROP costs nothing per row. Months still inside some workspace's window (and the
    DEFAULT partition) are left to the row deletes of `retention_purge`. Returns how many events of
    each workspace went. A month whose table stays locked (or that fails to drop for any other
    database error) is left for the next night: its rows are then deleted one by one by each
    workspace's purge, as without partitions."""
    horizon = retention_horizon(now=now)
    dropped: dict[int, int] = {}
    if horizon is None:
        return dropped
    for month in event_months():
        if month.end > horizon:
            break
        try:
            counts = event_month_drop(month)
        except DatabaseError as exc:  # a lock timeout, most likely: never in the way of the row deletes
            logger.warning("event month %s not dropped (%s); left for the next retention run", month.name, exc)
            continue
        for workspace_id, n in counts.items():
            dropped[workspace_id] = dropped.get(workspace_id, 0) + n
    return dropped


def _batched_delete(qs: QuerySet, *, batch_size: int) -> int:
    """Delete the rows of `qs` by id ranges, `batch_size` at a time, each batch its own transaction
    (short locks; an interrupted purge simply resumes next night)."""
    total = 0
    model = qs.model
    while True:
        ids = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        with transaction.atomic():
            _, per_model = qs.filter(pk__gte=ids[0], pk__lte=ids[-1]).delete()
        total += per_model.get(model._meta.label, 0)


def _dedupe_keys_delete(*, workspace: Workspace, cutoff: datetime, batch_size: int) -> int:
    """Message ids received before the cutoff: their events are gone (or going) with the window."""
    old = DedupeKey.objects.filter(workspace=workspace, received_at__lt=cutoff)
    total = 0
    while keys := list(old.values_list("key", flat=True)[:batch_size]):
        with transaction.atomic():
            total += old.filter(key__in=keys).delete()[0]
    return total


def _with_something_left(ids: list[int]) -> set[int]:
    """Of these live customers, those with an event or a message left (theirs, or of a customer
    merged into them): index probes on the event and message customer indexes, no correlated scan."""
    children = dict(Customer.objects.filter(merged_into_id__in=ids).values_list("pk", "merged_into_id"))
    owner = {**{pk: pk for pk in ids}, **children}
    used = set(Event.objects.filter(customer_id__in=list(owner)).values_list("customer_id", flat=True).distinct())
    for holder in holders():
        if holder.customers_with_rows:
            used |= holder.customers_with_rows(list(owner))
    return {owner[customer_id] for customer_id in used}


def _people_without_anything_left(*, workspace: Workspace, cutoff: datetime, batch_size: int) -> int:
    """Delete, one person per transaction, every live customer created and last seen before the
    cutoff with no event and no message left (theirs or a merged customer's). Candidates are read in
    primary-key order, `batch_size` at a time."""
    candidates = Customer.objects.filter(
        workspace=workspace, status=CustomerStatus.LIVE, created_at__lt=cutoff, last_seen__lt=cutoff
    ).order_by("pk")
    deleted = 0
    after = 0
    while True:
        batch = list(candidates.filter(pk__gt=after)[:batch_size])
        if not batch:
            return deleted
        after = batch[-1].pk
        busy = _with_something_left([c.pk for c in batch])
        for customer in batch:
            if customer.pk in busy:
                continue
            with transaction.atomic():
                subject = subject_get(workspace=workspace, customer=customer)
                list(Customer.objects.select_for_update().filter(pk__in=subject.group_ids).order_by("pk"))
                if _with_something_left([subject.customer.pk]):
                    continue  # an event arrived since the batch was read: the person stays
                deleted += subject_delete(subject=subject, erasure=False)["customers"]


def _first_seen_clamp(*, workspace: Workspace, cutoff: datetime) -> int:
    per_customer = Event.objects.filter(customer_id=OuterRef("pk")).order_by().values("customer_id")
    earliest = per_customer.annotate(first=Min("occurred_at")).values("first")
    return Customer.objects.filter(workspace=workspace, first_seen__lt=cutoff).update(
        first_seen=Coalesce(Subquery(earliest), Value(cutoff))
    )


def _snapshot_dates_clamp(*, workspace: Workspace, cutoff: datetime) -> int:
    """Merge logs inside the window whose snapshots still hold a date before the cutoff."""
    changed = 0
    limit = cutoff.isoformat()
    for log in MergeLog.objects.filter(workspace=workspace, created_at__gte=cutoff).iterator(chunk_size=1000):
        moved: dict[str, Any] = log.moved or {}
        dirty = False
        for snap in moved.values():
            if not isinstance(snap, dict):
                continue
            for name in SNAPSHOT_DATES:
                value = snap.get(name)
                if isinstance(value, str) and datetime.fromisoformat(value) < cutoff:
                    snap[name] = limit
                    dirty = True
        if dirty:
            MergeLog.objects.filter(pk=log.pk).update(moved=moved)
            changed += 1
    return changed


def retention_purge(
    *, workspace: Workspace, now: datetime | None = None, batch_size: int = BATCH_SIZE, events_dropped: int = 0
) -> RetentionRun:
    """Run the workspace's retention rule once (see the module docstring). `events_dropped`: the
    workspace's events that went with whole months just before (`event_months_drop`), counted in
    the run's record with the ones deleted here."""
    started = time.monotonic()
    ran_at = now or timezone.now()
    cutoff = retention_cutoff(workspace=workspace, now=ran_at)
    proof_cutoff = months_before(ran_at, settings.CLARM_CONSENT_PROOF_MONTHS)
    events = _batched_delete(Event.objects.filter(workspace=workspace, occurred_at__lt=cutoff), batch_size=batch_size)
    visits = _batched_delete(Visit.objects.filter(workspace=workspace, last_event_at__lt=cutoff), batch_size=batch_size)
    _dedupe_keys_delete(workspace=workspace, cutoff=cutoff, batch_size=batch_size)
    # Pending that long: set aside by the stitchers, still holding the identifiers they carried.
    _batched_delete(PendingEvent.objects.filter(workspace=workspace, received_at__lt=cutoff), batch_size=batch_size)
    # Raw payloads, tracked links (integrations), messages and empty conversations (agents).
    held: dict[str, int] = {}
    for holder in holders():
        if holder.purge:
            held.update(holder.purge(workspace, cutoff, batch_size))
    merge_logs = _batched_delete(
        MergeLog.objects.filter(workspace=workspace, created_at__lt=cutoff), batch_size=batch_size
    )
    customers = _people_without_anything_left(workspace=workspace, cutoff=cutoff, batch_size=batch_size)
    consent = _batched_delete(
        ConsentRecord.objects.filter(workspace=workspace, created_at__lt=proof_cutoff), batch_size=batch_size
    )
    with transaction.atomic():
        _first_seen_clamp(workspace=workspace, cutoff=cutoff)
        _snapshot_dates_clamp(workspace=workspace, cutoff=cutoff)
    return RetentionRun.objects.create(
        workspace=workspace,
        ran_at=ran_at,
        cutoff=cutoff,
        retention_months=workspace.retention_months,
        events_deleted=events + events_dropped,
        visits_deleted=visits,
        payloads_deleted=held.get("payloads", 0),
        messages_deleted=held.get("messages", 0),
        merge_logs_deleted=merge_logs,
        customers_deleted=customers,
        consent_records_deleted=consent,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


batched_delete = _batched_delete  # public: holders above identity purge their rows with it
