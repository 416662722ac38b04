"""Reads of the dashboard: only DailyCount and PersonFacts rows of the period, never events."""

import datetime
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum

from agents.summary.periods import workspace_zone
from identity.models import CustomerStatus, DailyCount, PersonFacts, RollupDimension
from workspaces.models import Workspace

RUNGS = (0, 1, 2, 3, 4)
TOP = 10


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        end = self.start - datetime.timedelta(days=1)
        return Period(start=end - datetime.timedelta(days=self.days - 1), end=end)

    def dates(self) -> list[datetime.date]:
        return [self.start + datetime.timedelta(days=n) for n in range(self.days)]


@dataclass
class FunnelStep:
    rung: int
    people: int
    share: float  # of everyone in the cohort, 0-100
    conversion: float | None  # from the previous rung, 0-100
    median_seconds: float | None  # from reaching the previous rung


@dataclass
class Attribution:
    channel: str
    campaign: str
    people: int
    revenue_minor: int


@dataclass
class Dashboard:
    period: Period
    previous: Period
    series: dict[datetime.date, dict[str, int]]
    channels: list[tuple[str, int, int]]  # (channel, this period, previous period), most first
    campaigns: list[tuple[str, int, int]]
    new_people: int
    new_people_before: int
    funnel: list[FunnelStep]
    converted: int
    converted_before: int
    revenue_minor: int
    revenue_minor_before: int
    attribution: list[Attribution]
    last_touch: list[Attribution]
    top: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    previous_daily: list[int] = field(default_factory=list)  # new people per day of the previous period
    currency: str = "USD"


def _sums(workspace: Workspace, dimension: str, period: Period) -> dict[str, int]:
    rows = (
        DailyCount.objects.filter(
            workspace=workspace, dimension=dimension, date__gte=period.start, date__lte=period.end
        )
        .values("key")
        .annotate(total=Sum("count"))
    )
    return {row["key"]: row["total"] for row in rows}


def _compare(now: dict[str, int], before: dict[str, int], limit: int | None = None) -> list[tuple[str, int, int]]:
    keys = sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), -before.get(k, 0), k))
    return [(k, now.get(k, 0), before.get(k, 0)) for k in keys[:limit]]


def _facts(workspace: Workspace) -> QuerySet[PersonFacts]:
    return PersonFacts.objects.filter(workspace=workspace, customer__status=CustomerStatus.LIVE)


def _cohort(workspace: Workspace, period: Period) -> QuerySet[PersonFacts]:
    return _facts(workspace).filter(first_date__gte=period.start, first_date__lte=period.end)


def funnel(*, workspace: Workspace, period: Period) -> list[FunnelStep]:
    """The ladder of the people first seen in the period: how many reached each rung (by now), the
    conversion from the rung before, and the median time it took."""
    rows = _cohort(workspace, period).values_list("first_at", "rung1_at", "rung2_at", "rung3_at", "rung4_at")
    reached = [0] * 5
    waits: list[list[float]] = [[] for _ in RUNGS]
    for times in rows.iterator(chunk_size=5000):
        for rung in RUNGS:
            at, previous_at = times[rung], times[rung - 1] if rung else None
            if at is None:
                continue
            reached[rung] += 1
            if previous_at is not None:
                waits[rung].append(max(0.0, (at - previous_at).total_seconds()))
    total = reached[0]
    steps = []
    for rung in RUNGS:
        before = reached[rung - 1] if rung else None
        steps.append(
            FunnelStep(
                rung=rung,
                people=reached[rung],
                share=round(100 * reached[rung] / total, 1) if total else 0.0,
                conversion=round(100 * reached[rung] / before, 1) if before else None,
                median_seconds=statistics.median(waits[rung]) if waits[rung] else None,
            )
        )
    return steps


def _converted(workspace: Workspace, period: Period) -> QuerySet[PersonFacts]:
    since = datetime.datetime.combine(period.start, datetime.time.min, tzinfo=workspace_zone(workspace.timezone))
    until = datetime.datetime.combine(
        period.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=workspace_zone(workspace.timezone)
    )
    return _facts(workspace).filter(rung4_at__gte=since, rung4_at__lt=until)


def attribution(*, workspace: Workspace, period: Period, touch: str = "first_source") -> list[Attribution]:
    """People who first reached rung 4 in the period, by first-touch (or last-touch) channel and
    first-touch campaign, with the revenue of their payments (less refunds)."""
    campaign = "first_campaign" if touch == "first_source" else None
    group = [touch, campaign] if campaign else [touch]
    rows = (
        _converted(workspace, period)
        .values(*group)
        .annotate(people=Count("id"), revenue=Sum("revenue_minor"))
        .order_by("-revenue", "-people", *group)
    )
    return [
        Attribution(
            channel=row[touch],
            campaign=row.get("first_campaign", "") if campaign else "",
            people=row["people"],
            revenue_minor=row["revenue"] or 0,
        )
        for row in rows[:TOP]
    ]


def _converted_totals(workspace: Workspace, period: Period) -> tuple[int, int]:
    agg = _converted(workspace, period).aggregate(people=Count("id"), revenue=Sum("revenue_minor", default=0))
    return agg["people"], agg["revenue"] or 0


def _currency(workspace: Workspace) -> str:
    row = (
        PersonFacts.objects.filter(workspace=workspace)
        .exclude(currency="")
        .values("currency")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    return row["currency"] if row else "USD"


def dashboard_get(*, workspace: Workspace, period: Period) -> Dashboard:
    previous = period.previous()
    series: dict[datetime.date, dict[str, int]] = defaultdict(dict)
    rows = DailyCount.objects.filter(
        workspace=workspace,
        dimension=RollupDimension.PEOPLE_SOURCE,
        date__gte=period.start,
        date__lte=period.end,
    ).values_list("date", "key", "count")
    for date, key, count in rows:
        series[date][key] = count
    channels = _compare(
        _sums(workspace, RollupDimension.PEOPLE_SOURCE, period),
        _sums(workspace, RollupDimension.PEOPLE_SOURCE, previous),
    )
    campaigns = _compare(
        _sums(workspace, RollupDimension.PEOPLE_CAMPAIGN, period),
        _sums(workspace, RollupDimension.PEOPLE_CAMPAIGN, previous),
        TOP,
    )
    before_by_day = dict(
        DailyCount.objects.filter(
            workspace=workspace,
            dimension=RollupDimension.PEOPLE_SOURCE,
            date__gte=previous.start,
            date__lte=previous.end,
        )
        .values("date")
        .annotate(total=Sum("count"))
        .values_list("date", "total")
    )
    converted, revenue = _converted_totals(workspace, period)
    converted_before, revenue_before = _converted_totals(workspace, previous)
    top = {
        str(dimension): sorted(_sums(workspace, dimension, period).items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        for dimension in (RollupDimension.PAGE, RollupDimension.COUNTRY, RollupDimension.DEVICE)
    }
    return Dashboard(
        period=period,
        previous=previous,
        series={date: series.get(date, {}) for date in period.dates()},
        channels=channels,
        campaigns=campaigns,
        new_people=sum(n for _, n, _ in channels),
        new_people_before=sum(b for _, _, b in channels),
        funnel=funnel(workspace=workspace, period=period),
        converted=converted,
        converted_before=converted_before,
        revenue_minor=revenue,
        revenue_minor_before=revenue_before,
        attribution=attribution(workspace=workspace, period=period),
        last_touch=attribution(workspace=workspace, period=period, touch="last_source"),
        top=top,
        previous_daily=[before_by_day.get(date, 0) for date in previous.dates()],
        currency=_currency(workspace),
    )


def people_at_step(*, workspace: Workspace, period: Period, rung: int) -> list[int]:
    """Customer ids of the period's cohort who reached a rung (the funnel step's people), newest first."""
    field_name = "first_at" if rung == 0 else f"rung{rung}_at"
    return list(
        _cohort(workspace, period)
        .filter(~Q(**{f"{field_name}__isnull": True}))
        .order_by("-first_at")
        .values_list("customer_id", flat=True)[:200]
    )
