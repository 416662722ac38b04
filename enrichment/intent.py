"""The intent score on the customer: recomputed for a batch of people at once (one query for their
signals, one batch of updates), and the high_intent_visitor moment when a score crosses 70 upward.
The formula is enrichment.scoring (pure); docs/enrichment.md describes both."""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, DateTimeField, F, FloatField, Func, QuerySet, Sum, Value, Window
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber
from django.utils import timezone

from clarm.rowsinsert import fields_update
from enrichment.models import EnrichmentSettings
from enrichment.moments import HighIntentVisitor, high_intent_visitor_publish
from enrichment.scoring import HALF_LIFE_DAYS, IntentResult, Tally, intent_from_tallies, page_rules, recency_weight
from enrichment.stamps import stamp, stamp_parse
from identity.models import Customer, CustomerStatus
from tracking.hooks import events_stitched_announce
from tracking.models import Event, Source

INTENT_EVENTS = ("page_view", "widget_opened", "message_sent")
HIGH_INTENT_EVENT = "high_intent_visitor"
HIGH_INTENT_THRESHOLD = 70
REARM_BELOW = 50
REARM_AFTER = datetime.timedelta(days=30)
SIGNAL_WINDOW = datetime.timedelta(days=90)  # older signals weigh < 0.02 % (half-life 7 days)
MAX_SIGNALS = 1000
# Beat's decay pass (intent_decay): a score older than this is recomputed, in batches.
DECAY_EVERY = datetime.timedelta(hours=6)
DECAY_PAGE = 5000
DECAY_BATCH = 500
# What scoring reads of a person (the rest of the row is never loaded by the processor).
SCORED_FIELDS = ("id", "workspace_id", "rung", "intent", "intent_score", "company_profile", "person_profile", "email")


@dataclass(frozen=True)
class IntentOutcome:
    result: IntentResult
    fired_event_id: int | None


def people_locked(queryset: QuerySet[Customer], *, skip_locked: bool = False) -> list[Customer]:
    """The live people of `queryset`, row-locked in id order (so concurrent batches fire a moment
    once and never deadlock), with only the fields scoring and enrichment read. `skip_locked`: leave
    out the people another transaction holds instead of waiting for them."""
    locked = queryset.select_for_update(no_key=True, skip_locked=skip_locked)
    return list(locked.filter(status=CustomerStatus.LIVE).only(*SCORED_FIELDS).order_by("pk"))


class RecencyWeight(Func):
    """0.5 ** (age in days / 7) of `at` as of `now` (1 for a time ahead of now), computed by the
    database: enrichment.scoring.recency_weight in SQL, for PostgreSQL and SQLite."""

    output_field = FloatField()

    def __init__(self, at: str, now: datetime.datetime) -> None:
        super().__init__(Value(now, output_field=DateTimeField()), F(at))

    def _render(self, compiler: Any, connection: Any, form: str) -> tuple[str, list[Any]]:
        now_sql, now_params = compiler.compile(self.source_expressions[0])
        at_sql, at_params = compiler.compile(self.source_expressions[1])
        return form.format(now=now_sql, at=at_sql, days=HALF_LIFE_DAYS), [*now_params, *at_params]

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        form = "LEAST(1.0, POWER(0.5, CAST(EXTRACT(EPOCH FROM ({now} - {at})) AS double precision) / (86400 * {days})))"
        return self._render(compiler, connection, form)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return self._render(compiler, connection, "MIN(1.0, POWER(0.5, (julianday({now}) - julianday({at})) / {days}))")


def _signal_rows(customer_ids: list[int], now: datetime.datetime) -> QuerySet[Event]:
    return Event.objects.filter(
        customer_id__in=customer_ids, occurred_at__gte=now - SIGNAL_WINDOW, event__in=INTENT_EVENTS
    )


def _tallies(customer_ids: list[int], now: datetime.datetime) -> dict[int, list[Tally]]:
    """Each person's page and widget events of the window, summed by kind and URL with their
    recency weights in the database: one query for all of them, a few rows per person. A person
    with more than MAX_SIGNALS signals in the window counts only their latest MAX_SIGNALS (a
    second query, for those people only)."""
    out: dict[int, list[Tally]] = defaultdict(list)
    totals: dict[int, int] = defaultdict(int)
    summed = (
        _signal_rows(customer_ids, now)
        .values("customer_id", "event", url=KT("context__url"))
        .annotate(n=Count("id"), weight=Sum(RecencyWeight("occurred_at", now)))
        .values_list("customer_id", "event", "url", "n", "weight")
        .order_by()
    )
    for customer_id, event, url, n, weight in summed:
        out[customer_id].append(Tally(event, url or "", n, weight))
        totals[customer_id] += n
    heavy = [c for c, n in totals.items() if n > MAX_SIGNALS]
    if heavy:
        latest = (
            _signal_rows(heavy, now)
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("customer_id")], order_by=[F("occurred_at").desc(), F("id").desc()]
                )
            )
            .filter(rank__lte=MAX_SIGNALS)
            .values_list("customer_id", "event", "occurred_at", KT("context__url"))
        )
        for customer_id in heavy:
            out[customer_id] = []
        for customer_id, event, at, url in latest:
            out[customer_id].append(Tally(event, url or "", 1, recency_weight(at, now)))
    return out


def _intent_next(
    customer: Customer, result: IntentResult, now: datetime.datetime, *, may_fire: bool = True
) -> tuple[dict[str, Any], bool]:
    """The person's new intent state, and whether high_intent_visitor fires now (never when not
    `may_fire`: the moment stays armed for the person's next event)."""
    state = dict(customer.intent or {})
    armed = state.get("armed", True)
    fired_at = stamp_parse(state.get("fired_at"))
    if not armed and (result.score < REARM_BELOW or (fired_at is not None and now - fired_at >= REARM_AFTER)):
        armed = True
    fire = may_fire and armed and result.score >= HIGH_INTENT_THRESHOLD
    if fire:
        armed, fired_at = False, now
    state.update(
        parts=result.explanation(), computed_at=stamp(now), armed=armed, fired_at=stamp(fired_at) if fired_at else None
    )
    return state, fire


def _moment_event(customer: Customer, result: IntentResult, now: datetime.datetime) -> Event:
    return Event(
        workspace_id=customer.workspace_id,
        customer_id=customer.pk,
        event=HIGH_INTENT_EVENT,
        source=Source.AGENT,
        occurred_at=now,
        received_at=now,
        rung=customer.rung,
        properties={"agent": "intent", "score": result.score, "reasons": [p["text"] for p in result.explanation()]},
    )


def people_intent_score(
    people: list[Customer], *, config: EnrichmentSettings | None, now: datetime.datetime, may_fire: bool = True
) -> dict[int, IntentOutcome]:
    """Recompute these people's scores (they are row-locked by the caller's transaction: see
    people_locked) and fire `high_intent_visitor` for each whose score crossed 70 upward while
    armed (unless not `may_fire`). Re-armed when it falls below 50, or 30 days after it fired. One
    query for the signals, one batch of updates. Returns the outcome per person."""
    outcomes: dict[int, IntentOutcome] = {}
    if not people:
        return outcomes
    tallies = _tallies([c.pk for c in people], now)
    rules = page_rules(config.page_weights if config is not None else None)
    fired: list[tuple[Customer, Event]] = []
    for customer in people:
        result = intent_from_tallies(
            tallies=tallies.get(customer.pk, []),
            rules=rules,
            enterprise_score=(customer.company_profile or {}).get("enterprise_score"),
            rung=customer.rung,
        )
        customer.intent, fire = _intent_next(customer, result, now, may_fire=may_fire)
        customer.intent_score = result.score
        outcomes[customer.pk] = IntentOutcome(result, None)
        if fire:
            fired.append((customer, _moment_event(customer, result, now)))
    fields_update(people, ("intent_score", "intent"))
    if fired:
        Event.objects.bulk_create([event for _, event in fired])
        moments = []
        for customer, event in fired:
            outcomes[customer.pk] = IntentOutcome(outcomes[customer.pk].result, event.pk)
            moments.append(
                HighIntentVisitor(
                    workspace_id=customer.workspace_id,
                    customer_id=customer.pk,
                    event_id=event.pk,
                    score=outcomes[customer.pk].result.score,
                )
            )
        transaction.on_commit(lambda: _moments_announce(moments))
    return outcomes


def customers_intent_refresh(
    *, customer_ids: list[int], config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> dict[int, IntentOutcome]:
    """Recompute these people's intent scores in one transaction (see people_intent_score)."""
    now = now or timezone.now()
    with transaction.atomic():
        people = people_locked(Customer.objects.filter(pk__in=customer_ids))
        return people_intent_score(people, config=config, now=now)


def customer_intent_refresh(
    *, customer_id: int, config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> IntentOutcome | None:
    """One person's intent refresh (see customers_intent_refresh)."""
    return customers_intent_refresh(customer_ids=[customer_id], config=config, now=now).get(customer_id)


def _moments_announce(moments: list[HighIntentVisitor]) -> None:
    # The timeline events go through the same after-commit hook as every event (destinations that
    # follow events see them), and subscribers of the moment get each directly.
    for moment in moments:
        events_stitched_announce(moment.workspace_id, [moment.event_id])
        high_intent_visitor_publish(moment)


def _stale_people(after_pk: int, cutoff: datetime.datetime) -> tuple[dict[int, list[int]], int | None]:
    """One page (by id) of the people whose score can still fade, by workspace: those computed
    before `cutoff`. Returns them and the id to continue after (None: the end)."""
    rows = list(
        Customer.objects.filter(status=CustomerStatus.LIVE, allow_analytics=True, intent_score__gt=0, pk__gt=after_pk)
        .order_by("pk")
        .values_list("pk", "workspace_id", KT("intent__computed_at"))[:DECAY_PAGE]
    )
    stale: dict[int, list[int]] = defaultdict(list)
    for pk, workspace_id, computed in rows:
        at = stamp_parse(computed)
        if at is None or at < cutoff:
            stale[workspace_id].append(pk)
    return stale, (rows[-1][0] if len(rows) == DECAY_PAGE else None)


def intent_decay(*, now: datetime.datetime | None = None) -> int:
    """Between a person's events their score fades with recency (half-life 7 days) and the stored
    score would stand still: beat rescores every person whose score was computed more than
    DECAY_EVERY ago and is above 0, with their workspace's weights, in batches of DECAY_BATCH (one
    transaction each, rows locked in id order like the processor). The moment re-arms as it would
    on an event (below 50, or 30 days after it fired) but never fires here: a fading score does not
    cross 70 upward, and a re-armed moment fires on the person's next event. Returns how many
    people were rescored."""
    now = now or timezone.now()
    cutoff = now - DECAY_EVERY
    rescored = 0
    after: int | None = 0
    while after is not None:
        stale, after = _stale_people(after, cutoff)
        for workspace_id, ids in stale.items():
            config = EnrichmentSettings.objects.filter(workspace_id=workspace_id).first()
            for start in range(0, len(ids), DECAY_BATCH):
                with transaction.atomic():
                    people = people_locked(
                        Customer.objects.filter(workspace_id=workspace_id, pk__in=ids[start : start + DECAY_BATCH])
                    )
                    rescored += len(people_intent_score(people, config=config, now=now, may_fire=False))
    return rescored
