"""The rollup processor: counts committed events into DailyCount and refreshes PersonFacts.

Counting follows a watermark per workspace (RollupState.last_event_id) under a row lock, so a run is
idempotent and concurrent runs queue behind each other. Bound: an event whose transaction commits
after an event with a higher id was already counted is missed by the watermark; the nightly rebuild
of the last two days (identity.rollups_rebuild_recent) counts it. People counts are kept as the
difference between a person's old and new facts, so a merge or a changed first touch moves them.
"""

import datetime
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.utils import timezone

from clarm.rowsinsert import fields_update
from identity.channels import channel_of, channels_text
from identity.models import Customer, CustomerStatus, DailyCount, PersonFacts, RollupDimension, RollupState
from identity.rollups.dimensions import (
    PAYMENT_EVENTS,
    REFUND_EVENTS,
    campaign_of,
    event_counts,
    last_step,
    local_date,
    wait_bucket,
)
from identity.rollups.dimensions import revenue_minor as event_revenue
from identity.selectors import channels_used
from tracking.models import Event
from workspaces.models import Workspace
from workspaces.zones import workspace_zone

BATCH = 2000
EVENT_DIMENSIONS = (RollupDimension.PAGE, RollupDimension.COUNTRY, RollupDimension.DEVICE)
PEOPLE_DIMENSIONS = (RollupDimension.PEOPLE_SOURCE, RollupDimension.PEOPLE_CAMPAIGN)
Key = tuple[str, datetime.date, str]  # (dimension, date, key)


def _tz(workspace: Workspace) -> zoneinfo.ZoneInfo:
    return workspace_zone(workspace.timezone)


def _state_lock(workspace: Workspace) -> RollupState:
    RollupState.objects.get_or_create(workspace=workspace)
    return RollupState.objects.select_for_update().get(workspace=workspace)


def _counts_apply(workspace: Workspace, deltas: Counter[Key]) -> None:
    """Add deltas to the stored counts (the caller holds the workspace's RollupState lock)."""
    groups: dict[tuple[str, datetime.date], dict[str, int]] = {}
    for (dimension, date, key), delta in deltas.items():
        if delta:
            groups.setdefault((dimension, date), {})[key] = delta
    for (dimension, date), by_key in groups.items():
        existing = {
            row.key: row
            for row in DailyCount.objects.filter(workspace=workspace, dimension=dimension, date=date, key__in=by_key)
        }
        changed: list[DailyCount] = []
        gone: list[DailyCount] = []
        new: list[DailyCount] = []
        for key, delta in by_key.items():
            row = existing.get(key)
            if row is None:
                if delta > 0:
                    new.append(DailyCount(workspace=workspace, dimension=dimension, date=date, key=key, count=delta))
                continue
            row.count += delta
            (changed if row.count > 0 else gone).append(row)
        DailyCount.objects.bulk_create(new)
        DailyCount.objects.bulk_update(changed, ["count"])
        DailyCount.objects.filter(pk__in=[row.pk for row in gone]).delete()


def _event_count(
    counts: Counter[Key],
    tz: zoneinfo.ZoneInfo,
    name: str,
    source: str,
    occurred_at: datetime.datetime,
    properties: Any,
    context: Any,
    is_bot: bool,
) -> None:
    """Add what one event counts towards (identity.rollups.dimensions.event_counts) to its local day."""
    local = occurred_at.astimezone(tz)
    day = local.date()
    for dimension, key, amount in event_counts(
        event=name, source=source, properties=properties, context=context, is_bot=is_bot, hour=local.hour
    ):
        counts[(dimension, day, key)] += amount


def _people_keys(facts: PersonFacts | None, tz: zoneinfo.ZoneInfo) -> list[tuple[Key, int]]:
    """The day counts one person's facts add to, with their weights (1, or revenue in minor units)."""
    if facts is None:
        return []
    day = facts.first_date
    keys: list[tuple[Key, int]] = [((RollupDimension.PEOPLE_SOURCE.value, day, facts.first_source), 1)]
    if facts.first_campaign:
        keys.append(((RollupDimension.PEOPLE_CAMPAIGN.value, day, facts.first_campaign), 1))
    times = [facts.first_at, facts.rung1_at, facts.rung2_at, facts.rung3_at, facts.rung4_at]
    for rung in range(1, 5):
        at, before = times[rung], times[rung - 1]
        if at is None:
            continue
        bucket = wait_bucket((at - before).total_seconds()) if before is not None else 0
        keys.append(((RollupDimension.FUNNEL.value, day, f"{rung}:{bucket}"), 1))
    if facts.rung4_at is None and facts.last_step:
        at_rung = max(r for r in range(4) if r == 0 or times[r] is not None)
        keys.append(((RollupDimension.DROPOFF.value, day, f"{at_rung}|{facts.last_step}"), 1))
    if facts.rung4_at is not None:
        converted_day = local_date(facts.rung4_at, tz)
        first = f"{facts.first_source}|{facts.first_campaign}"
        keys.append(((RollupDimension.CONVERTED.value, converted_day, first), 1))
        keys.append(((RollupDimension.CONVERTED_LAST.value, converted_day, facts.last_source), 1))
        if facts.revenue_minor:
            revenue = facts.revenue_minor
            keys.append(((RollupDimension.CONVERTED_REVENUE.value, converted_day, first), revenue))
            keys.append(((RollupDimension.CONVERTED_LAST_REVENUE.value, converted_day, facts.last_source), revenue))
    return keys


def _timeline_ends(customer_ids: list[int]) -> dict[int, tuple[Event, Event]]:
    """Each customer's first and last event (by time, then id), for those with any: one query for
    their ids (two correlated index probes per customer on `event_timeline`), one for the rows."""
    timeline = Event.objects.filter(customer_id=OuterRef("pk"))
    ends = Customer.objects.filter(pk__in=customer_ids).values_list(
        "pk",
        Subquery(timeline.order_by("occurred_at", "id").values("id")[:1]),
        Subquery(timeline.order_by("-occurred_at", "-id").values("id")[:1]),
    )
    pairs = [(pk, first, last) for pk, first, last in ends if first is not None]
    rows = Event.objects.only("occurred_at", "source", "event", "properties", "context").in_bulk(
        {i for _, first, last in pairs for i in (first, last)}
    )
    return {pk: (rows[first], rows[last]) for pk, first, last in pairs if first in rows and last in rows}


def _facts_compute(workspace: Workspace, customer_ids: list[int], tz: zoneinfo.ZoneInfo) -> dict[int, PersonFacts]:
    """Fresh facts of live customers from their events (one aggregate, then index probes each)."""
    live = list(
        Customer.objects.filter(workspace=workspace, pk__in=customer_ids, status=CustomerStatus.LIVE).values_list(
            "pk", flat=True
        )
    )
    if not live:
        return {}
    mins = {
        row["customer_id"]: row
        for row in Event.objects.filter(customer_id__in=live)
        .values("customer_id")
        .annotate(
            r1=Min("occurred_at", filter=Q(rung__gte=1)),
            r2=Min("occurred_at", filter=Q(rung__gte=2)),
            r3=Min("occurred_at", filter=Q(rung__gte=3)),
            r4=Min("occurred_at", filter=Q(rung__gte=4)),
            events=Count("id"),
        )
    }
    used = channels_used(customer_ids=live)
    revenue: Counter[int] = Counter()
    currency: dict[int, str] = {}
    for customer_id, name, properties in Event.objects.filter(
        customer_id__in=live, event__in=PAYMENT_EVENTS | REFUND_EVENTS
    ).values_list("customer_id", "event", "properties"):
        revenue[customer_id] += event_revenue(event=name, properties=properties)
        if isinstance(properties, dict) and isinstance(properties.get("currency"), str):
            currency[customer_id] = properties["currency"].upper()[:3]
    ends = _timeline_ends(live)
    facts = {}
    for customer_id, (first, last) in ends.items():
        agg = mins.get(customer_id, {})
        facts[customer_id] = PersonFacts(
            workspace=workspace,
            customer_id=customer_id,
            first_at=first.occurred_at,
            first_date=local_date(first.occurred_at, tz),
            first_source=channel_of(source=first.source, event=first.event, properties=first.properties),
            first_campaign=campaign_of(first.context),
            last_source=channel_of(source=last.source, event=last.event, properties=last.properties),
            last_step=last_step(event=last.event, source=last.source, properties=last.properties, context=last.context),
            rung1_at=agg.get("r1"),
            rung2_at=agg.get("r2"),
            rung3_at=agg.get("r3"),
            rung4_at=agg.get("r4"),
            revenue_minor=revenue[customer_id],
            currency=currency.get(customer_id, ""),
            event_count=agg.get("events", 0),
            channels=channels_text(used.get(customer_id, set())),
        )
    return facts


FACT_FIELDS = (
    "first_at",
    "first_date",
    "first_source",
    "first_campaign",
    "last_source",
    "last_step",
    "rung1_at",
    "rung2_at",
    "rung3_at",
    "rung4_at",
    "revenue_minor",
    "currency",
    "event_count",
    "channels",
)


def _facts_refresh(workspace: Workspace, customer_ids: Iterable[int], tz: zoneinfo.ZoneInfo) -> Counter[Key]:
    """Write fresh facts of these customers (dropping those of merged-away ones) and return the
    people-count deltas that follow."""
    wanted = set(customer_ids)
    deltas: Counter[Key] = Counter()
    # Facts of customers merged into another since: their people now count once, in the survivor,
    # whose facts (first touch, rungs, revenue) are refreshed with them.
    stale = list(
        PersonFacts.objects.filter(workspace=workspace, customer__status=CustomerStatus.MERGED).select_related(
            "customer"
        )
    )
    wanted.update(f.customer.merged_into_id for f in stale if f.customer.merged_into_id)
    ids = sorted(wanted)
    old = {f.customer_id: f for f in PersonFacts.objects.filter(workspace=workspace, customer_id__in=ids)}
    for row in stale:
        old.setdefault(row.customer_id, row)
    fresh = _facts_compute(workspace, ids, tz) if ids else {}
    for customer_id, before in old.items():
        for key, weight in _people_keys(before, tz):
            deltas[key] -= weight
        after = fresh.get(customer_id)
        if after is None:
            before.delete()
        else:
            after.pk = before.pk
    for after in fresh.values():
        for key, weight in _people_keys(after, tz):
            deltas[key] += weight
    fields_update([f for f in fresh.values() if f.pk], FACT_FIELDS)
    PersonFacts.objects.bulk_create([f for f in fresh.values() if not f.pk])
    return deltas


def rollups_advance(*, workspace_id: int, batch: int = BATCH) -> bool:
    """Count the next batch of the workspace's events above its watermark; True when more remain."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return False
    tz = _tz(workspace)
    with transaction.atomic():
        state = _state_lock(workspace)
        rows = list(
            Event.objects.filter(workspace=workspace, id__gt=state.last_event_id)
            .order_by("id")
            .values_list("id", "customer_id", "event", "source", "occurred_at", "properties", "context", "is_bot")[
                :batch
            ]
        )
        deltas: Counter[Key] = Counter()
        customers = set()
        for _, customer_id, name, source, occurred_at, properties, context, is_bot in rows:
            _event_count(deltas, tz, name, source, occurred_at, properties, context, is_bot)
            if customer_id is not None:
                customers.add(customer_id)
        deltas.update(_facts_refresh(workspace, customers, tz))
        _counts_apply(workspace, deltas)
        if rows:
            state.last_event_id = rows[-1][0]
            state.updated_at = timezone.now()
            state.save(update_fields=["last_event_id", "updated_at"])
    return len(rows) == batch


def rollups_customers_refresh(*, workspace_id: int, customer_ids: list[int]) -> None:
    """Refresh the facts (and people counts) of customers whose events moved without a new event:
    a merge by hand, a device split, an undo."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return
    tz = _tz(workspace)
    with transaction.atomic():
        _state_lock(workspace)
        _counts_apply(workspace, _facts_refresh(workspace, customer_ids, tz))


def rollups_rebuild(
    *, workspace: Workspace, start: datetime.date, end: datetime.date, facts: bool = False
) -> dict[str, int]:
    """Recount the days start..end (inclusive, workspace time zone) from events and people facts.
    With `facts`, first recompute the facts of every live customer (a full rebuild)."""
    tz = _tz(workspace)
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    until = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    with transaction.atomic():
        state = _state_lock(workspace)
        if facts:
            PersonFacts.objects.filter(workspace=workspace).delete()
            live = Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE)
            ids = list(live.values_list("pk", flat=True))
            for offset in range(0, len(ids), 500):
                _facts_refresh(workspace, ids[offset : offset + 500], tz)
        DailyCount.objects.filter(workspace=workspace, date__gte=start, date__lte=end).delete()
        counts: Counter[Key] = Counter()
        events = Event.objects.filter(
            workspace=workspace, occurred_at__gte=since, occurred_at__lt=until, id__lte=state.last_event_id
        ).values_list("event", "source", "occurred_at", "properties", "context", "is_bot")
        for name, source, occurred_at, properties, context, is_bot in events.iterator(chunk_size=BATCH):
            _event_count(counts, tz, name, source, occurred_at, properties, context, is_bot)
        # People whose facts count on a day of the range: first seen in it, or reaching rung 4 in it.
        people = PersonFacts.objects.filter(
            Q(first_date__gte=start, first_date__lte=end) | Q(rung4_at__gte=since, rung4_at__lt=until),
            workspace=workspace,
            customer__status=CustomerStatus.LIVE,
        )
        for f in people.iterator(chunk_size=BATCH):
            for (dimension, date, key), weight in _people_keys(f, tz):
                if start <= date <= end:
                    counts[(dimension, date, key)] += weight
        DailyCount.objects.bulk_create(
            [
                DailyCount(workspace=workspace, dimension=dimension, date=date, key=key, count=n)
                for (dimension, date, key), n in counts.items()
            ],
            batch_size=1000,
        )
    return {"rows": len(counts), "watermark": state.last_event_id}
