"""The stitcher: pending events (the edge's queue) → customers, visits and stored events.

The pipeline, top to bottom (DESIGN "Architecture: the event pipeline"; docs/ingest.md):

1. EDGE (tracking.services.events_ingest): authenticate, validate, normalize, hash the IP, honour
   GPC, then `tracking.append.events_append`: the dedupe keys and the events (`PendingEvent`) in one
   statement on PostgreSQL, one transaction on SQLite, and the 202. No identity lookup, no customer
   lock. After the commit the edge announces the append (tracking.hooks.events_appended_announce):
   with CLARM_STITCH_INLINE (the tests, and callers that need the customer at once) this module
   stitches the workspace right away, in the same process; otherwise a stitcher process does it
   within its poll interval.
2. STITCHERS (`python manage.py stitch`, this module's `stitch_run`): each pass claims the partitions
   it can (a PostgreSQL advisory lock per partition, held for the pass's transaction; N stitchers
   share the partitions without row-lock choreography), takes up to CLARM_STITCH_BATCH pending events
   of a partition in receive order, and runs the ONE resolver over them (`_resolve`: consent,
   customers, identifiers, merges, rungs, visits, then the Event rows; an opt-out event is applied
   at its place in the batch), deleting the pending rows in the same transaction. Manual merge,
   split, undo and erasure take the same partition lock (identity.stitching.partitions), so they
   never interleave with a batch.
3. PROCESSORS: after the batch commits, tracking.hooks.events_stitched_announce(workspace_id,
   event_ids) runs the registered receivers (destinations, enrichment and intent, the dashboard's
   rollups, consent records), each idempotent per (processor, event).

A batch that fails is retried one event per transaction; an event that fails on its own
CLARM_STITCH_MAX_ATTEMPTS times is left in the queue (reported by /api/status as `stuck`) so it
never blocks the events behind it."""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from identity.privacy.services import consent_record_from_event
from identity.stitching.batch import IdentityBatch
from identity.stitching.metrics import stitch_observe
from identity.stitching.partitions import partition_try, partition_wait
from tracking.append import partition_of
from tracking.attribution import attribution_from, attribution_is_paid
from tracking.eventwrite import events_insert
from tracking.hooks import events_stitched_announce
from tracking.inputs import EventInput, IngestResult
from tracking.ladder import LadderSignals
from tracking.models import DedupeKey, Event, PendingEvent, Source
from tracking.prepared import OPT_OUT_EVENTS, Prepared, opt_outs_within, prepared_from_data
from tracking.purposes import purpose_refused
from tracking.services import events_ingest
from tracking.visits import VisitTracker
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

# After a pass failed on the database itself (unreachable, locked), the stitcher waits this long.
RETRY_SECONDS = 1.0


@dataclass
class StitchOutcome:
    stitched: int = 0  # events stored
    suppressed: int = 0  # refused by the person's preferences (not stored)
    duplicates: int = 0
    event_ids: list[int] = field(default_factory=list)
    pending_ids: list[int] = field(default_factory=list)  # the pending rows this batch took

    def add(self, other: "StitchOutcome") -> None:
        self.stitched += other.stitched
        self.suppressed += other.suppressed
        self.duplicates += other.duplicates
        self.event_ids += other.event_ids
        self.pending_ids += other.pending_ids


def _event_row(p: Prepared, workspace_id: int, received_at: datetime, customer_id: int | None, rung: int) -> dict:
    session_id = p.visit.session_id if p.visit is not None else (p.session_id or "")
    return {
        "workspace_id": workspace_id,
        "customer_id": customer_id,
        "event": p.name,
        "source": p.source,
        "occurred_at": p.occurred_at,
        "received_at": received_at,
        "rung": rung,
        "session_id": session_id,
        "device_hash": p.device_hash,
        "message_id": p.message_id,
        "properties": p.properties,
        "context": p.context,
        "is_bot": p.is_bot,
    }


def _resolve(workspace: Workspace, items: list[tuple[Prepared, datetime]]) -> StitchOutcome:
    """The resolver: these events of one workspace, in receive order, inside the caller's transaction.

    An opt-out is in force from its place in that order: the events up to it (the opt-out included)
    are resolved and stored, the opt-out is applied (its consent record, the person's preferences and
    suppression rows) in this same transaction, and the events after it are resolved against the
    person as they now are (a new IdentityBatch reads them again). So the person's next event is
    refused whichever of their identifiers it carries, and whichever stitcher takes it after the
    commit. A refused event leaves nothing stored: its dedupe key goes too.

    Lock order (the same for every writer): the customers of all the identifiers of the events up to
    the next opt-out first, in key order, in one query (IdentityBatch); then the events INSERT; then
    the customers' own changes, in id order; after the last events, the visits, in id order."""
    outcome = StitchOutcome()
    kept, refused = opt_outs_within([p for p, _ in items])
    outcome.suppressed += refused
    received = {id(p): at for p, at in items}
    kept_ids = {id(p) for p in kept}
    refused_keys = [p.message_id for p, _ in items if id(p) not in kept_ids and p.message_id is not None]
    tracker = VisitTracker(workspace_id=workspace.pk, device_hashes={p.visit_device for p in kept if p.visit_device})
    start = 0
    while start < len(kept):
        end = next((i + 1 for i in range(start, len(kept)) if _is_opt_out(kept[i])), len(kept))
        stored = _events_resolve(workspace, kept[start:end], received, tracker, outcome, refused_keys)
        last = kept[end - 1]
        if _is_opt_out(last) and stored.get(id(last)) is not None:
            _opt_out_apply(workspace, stored[id(last)])  # type: ignore[arg-type]
        start = end
    tracker.flush()
    _dedupe_keys_forget(workspace.pk, refused_keys)
    return outcome


def _is_opt_out(p: Prepared) -> bool:
    """An opt-out event with someone to apply it to (a device or another identifier)."""
    return p.name in OPT_OUT_EVENTS and bool(p.claims.claims)


def _events_resolve(
    workspace: Workspace,
    events: list[Prepared],
    received: dict[int, datetime],
    tracker: VisitTracker,
    outcome: StitchOutcome,
    refused_keys: list[str],
) -> dict[int, int | None]:
    """Resolve and store these events (an opt-out only as the last); adds to `outcome` and
    `refused_keys`; returns each stored event's id by `id(prepared)` (None: a duplicate)."""
    rows: list[tuple[Prepared, dict[str, Any]]] = []
    identities = IdentityBatch(workspace=workspace, claims=[p.claims for p in events if p.claims.claims])
    for p in events:
        if p.claims.claims and purpose_refused(p.purpose, identities.consent_of(p.claims)):
            # Refused for this purpose (e.g. an opted-out person's analytics): nothing of the event
            # is applied (no visit, trait, identifier or merge) and nothing is stored.
            outcome.suppressed += 1
            if p.message_id is not None:
                refused_keys.append(p.message_id)
            continue
        if p.visit_device:
            landing = attribution_from(p.url, p.campaign)
            p.visit, starts = tracker.assign(
                device_hash=p.visit_device, session_id=p.session_id, at=p.occurred_at, landing=landing
            )
            if starts and landing:
                p.context["attribution"] = landing
                if p.source == Source.WEB and attribution_is_paid(landing):
                    p.source = Source.AD
        customer_id: int | None = None
        rung = 0
        if p.claims.claims and not p.is_bot:
            signals = LadderSignals(
                device_visit_count=p.visit.number if p.visit is not None and p.device_hash else 0,
                phone_channel=p.phone_channel,
                account=p.account,
            )
            resolution = identities.resolve(
                claims=p.claims, signals=signals, traits=p.traits, occurred_at=p.occurred_at
            )
            customer_id, rung = resolution.customer_id, resolution.rung
            if resolution.merged_customer_ids:
                # Events of this batch not yet written follow their customer into the survivor.
                merged = set(resolution.merged_customer_ids)
                for _, row in rows:
                    if row["customer_id"] in merged:
                        row["customer_id"] = customer_id
        rows.append((p, _event_row(p, workspace.pk, received[id(p)], customer_id, rung)))
    identities.created_insert()  # the customers the events point at exist before the events
    event_ids = events_insert([row for _, row in rows])
    stored: dict[int, int | None] = {}
    for (p, _), event_id in zip(rows, event_ids, strict=True):
        stored[id(p)] = event_id
        if event_id is None:
            outcome.duplicates += 1
            continue
        outcome.stitched += 1
        outcome.event_ids.append(event_id)
        if p.visit is not None:
            p.visit.new_events += 1
    identities.flush()
    events_stitched_announce(workspace.pk, [i for i in event_ids if i is not None])
    return stored


def _opt_out_apply(workspace: Workspace, event_id: int) -> None:
    """Apply a stored opt-out event in the batch's transaction (identity.privacy.services): the
    person is opted out when the batch commits. If that fails on the event itself, the batch goes
    on and the consent processor's task applies it after the commit (as for a grant)."""
    try:
        with transaction.atomic():
            consent_record_from_event(workspace=workspace, event=Event.objects.get(pk=event_id))
    except (OperationalError, InterfaceError):
        raise  # the database, not the event: the batch is retried
    except Exception:
        logger.exception("opt-out event %s not applied in its batch; left to the consent processor", event_id)


def _dedupe_keys_forget(workspace_id: int, keys: list[str]) -> None:
    """The dedupe keys of refused events: nothing of a refused event stays stored (a resend is
    appended again and decided again)."""
    for start in range(0, len(keys), 500):
        DedupeKey.objects.filter(workspace_id=workspace_id, key__in=keys[start : start + 500]).delete()


class Pending(NamedTuple):
    """A pending row as the stitcher reads it (no model instance: a batch reads a thousand)."""

    pk: int
    workspace_id: int
    partition: int
    received_at: datetime
    attempts: int
    data: dict[str, Any]


def _pending(partition: int, *, workspace_id: int | None, limit: int) -> list[Pending]:
    rows = PendingEvent.objects.filter(partition=partition, attempts__lt=settings.CLARM_STITCH_MAX_ATTEMPTS)
    if workspace_id is not None:
        rows = rows.filter(workspace_id=workspace_id)
    # Values, not model instances, and the event's JSON read as text in one call: the model's field
    # decoding (psycopg's loader, then Django's) was a tenth of a returning device's stitch.
    values = rows.order_by("id").values_list(
        "id", "workspace_id", "partition", "received_at", "attempts", Cast("data", TextField())
    )
    return [
        Pending(pk, workspace, part, received_at, attempts, json.loads(data))
        for pk, workspace, part, received_at, attempts, data in values[:limit]
    ]


def _batch_stitch(pending: list[Pending]) -> StitchOutcome:
    """Resolve these pending events (in order; any workspaces) and delete them: the caller's transaction."""
    outcome = StitchOutcome()
    by_workspace: dict[int, list[tuple[Prepared, datetime]]] = {}
    for row in pending:
        by_workspace.setdefault(row.workspace_id, []).append((prepared_from_data(row.data), row.received_at))
    workspaces = Workspace.objects.in_bulk(list(by_workspace))
    for workspace_id, items in by_workspace.items():
        workspace = workspaces.get(workspace_id)
        if workspace is not None:  # deleted meanwhile: its rows are dropped (an append can race the delete)
            outcome.add(_resolve(workspace, items))
    ids = [row.pk for row in pending]
    _pending_delete(ids)
    outcome.pending_ids = ids
    transaction.on_commit(lambda: stitch_observe(pending, now=timezone.now()))
    return outcome


def _pending_delete(ids: list[int]) -> None:
    """One statement whatever the batch's size (PostgreSQL: one array parameter, not 1,000)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {PendingEvent._meta.db_table} WHERE id = ANY(%s)", [ids])  # noqa: S608 (table name from the model)
        return
    for start in range(0, len(ids), 500):  # SQLite's bound on parameters
        PendingEvent.objects.filter(pk__in=ids[start : start + 500]).delete()


def partition_stitch(
    partition: int, *, workspace_id: int | None = None, wait: bool = False, limit: int | None = None
) -> StitchOutcome | None:
    """Stitch one batch of a partition (only `workspace_id`'s events when given). Returns None when
    another stitcher holds the partition (and `wait` is False), else what was done (empty when
    nothing was pending)."""
    limit = limit or settings.CLARM_STITCH_BATCH
    try:
        with transaction.atomic():
            if wait:
                partition_wait(partition)
            elif not partition_try(partition):
                return None
            pending = _pending(partition, workspace_id=workspace_id, limit=limit)
            if not pending:
                return StitchOutcome()
            return _batch_stitch(pending)
    except Exception:
        logger.exception("stitch batch of partition %s failed; stitching its events one at a time", partition)
        return _one_at_a_time(partition, workspace_id=workspace_id, limit=limit)


def _one_at_a_time(partition: int, *, workspace_id: int | None, limit: int) -> StitchOutcome:
    """After a failed batch: each event in its own transaction, so one bad event only holds itself."""
    outcome = StitchOutcome()
    for _ in range(limit):
        pending: list[Pending] = []
        try:
            with transaction.atomic():
                partition_wait(partition)
                pending = _pending(partition, workspace_id=workspace_id, limit=1)
                if not pending:
                    break
                outcome.add(_batch_stitch(pending))
        except (OperationalError, InterfaceError):
            raise  # the database, not the event: nothing is counted against it (the loop retries)
        except Exception:
            logger.exception("pending event %s failed to stitch", pending[0].pk if pending else None)
            if not pending:
                break  # it failed before reading an event: nothing to count, the next pass retries
            PendingEvent.objects.filter(pk=pending[0].pk).update(attempts=F("attempts") + 1)
            if pending[0].attempts + 1 < settings.CLARM_STITCH_MAX_ATTEMPTS:
                break  # try it again on the next pass
    return outcome


def workspace_stitch(workspace_id: int) -> StitchOutcome:
    """Stitch everything pending of one workspace now, in this process (waiting for its partition)."""
    outcome = StitchOutcome()
    partition = partition_of(workspace_id)
    while True:
        done = partition_stitch(partition, workspace_id=workspace_id, wait=True)
        if done is None or not done.pending_ids:
            return outcome
        outcome.add(done)


def _partitions_pending(partitions: list[int]) -> list[int]:
    """Which of these partitions have events waiting: one query, a skip scan of the (partition, id)
    index (one probe per partition that has work), so neither an idle stitcher nor one behind a
    queue of a million events reads the queue to find out."""
    table = PendingEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE t(p) AS (SELECT MIN(partition) FROM {table} WHERE attempts < %s "  # noqa: S608 (table name from the model)
            f"UNION ALL SELECT (SELECT MIN(partition) FROM {table} WHERE partition > t.p AND attempts < %s) "
            "FROM t WHERE t.p IS NOT NULL) SELECT p FROM t WHERE p IS NOT NULL",
            [settings.CLARM_STITCH_MAX_ATTEMPTS] * 2,
        )
        found = {row[0] for row in cursor.fetchall()}
    return [p for p in partitions if p in found]


def stitch_run(
    *,
    partitions: list[int] | None = None,
    poll_seconds: float = 0.05,
    stop: Callable[[], bool] = lambda: False,
    once: bool = False,
) -> int:
    """The stitcher's loop: take a batch of every partition this process can claim, again and again;
    sleep `poll_seconds` when nothing was pending. `once`: until nothing is pending, then return.
    Returns how many events it stored."""
    partitions = partitions if partitions is not None else list(range(settings.CLARM_STITCH_PARTITIONS))
    stored = 0
    while not stop():
        took = 0
        try:
            for partition in _partitions_pending(partitions):
                done = partition_stitch(partition)
                if done is not None:
                    took += len(done.pending_ids)
                    stored += done.stitched
        except (OperationalError, InterfaceError):
            # The database is unreachable or busy: the pending events wait, committed; try again.
            logger.exception("stitch pass failed; retrying in %s s", RETRY_SECONDS)
            connection.close()
            time.sleep(RETRY_SECONDS)
            continue
        if took == 0:
            if once:
                return stored
            time.sleep(poll_seconds)
    return stored


def stitch_inline(workspace_id: int) -> None:
    """The append receiver (tracking.hooks): with CLARM_STITCH_INLINE, stitch the workspace now."""
    if settings.CLARM_STITCH_INLINE:
        workspace_stitch(workspace_id)


def events_ingest_stitched(*, workspace: Workspace, events: list[EventInput], **options: Any) -> IngestResult:
    """The edge and the stitcher at once, for server-side callers that need the customer as soon as
    they return (provider webhooks processed by a worker, agents' actions, the demo): append, then
    stitch the workspace's pending events (these included) in this process, inside the caller's
    transaction if there is one. Options are `events_ingest`'s."""
    result = events_ingest(workspace=workspace, events=events, **options)
    if result.accepted:
        workspace_stitch(workspace.pk)
    return result
