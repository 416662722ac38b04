"""Reads of the dashboard: only DailyCount and PersonFacts rows of the period, never events."""

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Q, Sum

from identity.models import DailyCount, PersonFacts, RollupDimension
from identity.rollups.dimensions import bucket_middle, step_parts
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
class DropOff:
    rung: int  # the rung they are at
    kind: str  # Page, Message or Step
    label: str  # "/pricing", "WhatsApp message in", "Submits quote form"
    people: int
    share: float  # of the cohort's people not at rung 4, 0-100


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
    dropoff: list[DropOff] = field(default_factory=list)
    not_converted: int = 0  # people first seen in the period who are not at rung 4


def _sums(workspace: Workspace, dimension: str, period: Period) -> dict[str, int]:
    rows = (
        DailyCount.objects.filter(
            workspace=workspace, dimension=dimension, date__gte=period.start, date__lte=period.end
        )
        .values("key")
        .annotate(total=Sum("count"))
    )
    return {row["key"]: row["total"] for row in rows}


def day_sums_compare(
    *, workspace: Workspace, dimensions: Sequence[str], current: Period, previous: Period
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per dimension and key, the sum of the day counts over `current` and over `previous`: one
    query over the index `daily_count_unique` (workspace, dimension, date, key)."""
    rows = (
        DailyCount.objects.filter(
            workspace=workspace,
            dimension__in=list(dimensions),
            date__gte=min(current.start, previous.start),
            date__lte=max(current.end, previous.end),
        )
        .values("dimension", "key")
        .annotate(
            now=Sum("count", filter=Q(date__gte=current.start, date__lte=current.end)),
            before=Sum("count", filter=Q(date__gte=previous.start, date__lte=previous.end)),
        )
        .order_by()
    )
    sums: dict[str, dict[str, tuple[int, int]]] = {str(dimension): {} for dimension in dimensions}
    for row in rows:
        sums[row["dimension"]][row["key"]] = (row["now"] or 0, row["before"] or 0)
    return sums


def _compare(now: dict[str, int], before: dict[str, int], limit: int | None = None) -> list[tuple[str, int, int]]:
    keys = sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), -before.get(k, 0), k))
    return [(k, now.get(k, 0), before.get(k, 0)) for k in keys[:limit]]


def funnel(*, workspace: Workspace, period: Period, new_people: int) -> list[FunnelStep]:
    """The ladder of the people first seen in the period: how many reached each rung (by now), the
    conversion from the rung before, and the median time it took (read from log2 buckets, so within
    a factor √2 of the exact median)."""
    reached = [new_people, 0, 0, 0, 0]
    buckets: list[dict[int, int]] = [{} for _ in RUNGS]
    for key, count in _sums(workspace, RollupDimension.FUNNEL, period).items():
        rung_text, _, bucket_text = key.partition(":")
        if not (rung_text.isdigit() and bucket_text.isdigit()) or not 1 <= int(rung_text) <= 4:
            continue
        rung = int(rung_text)
        reached[rung] += count
        buckets[rung][int(bucket_text)] = buckets[rung].get(int(bucket_text), 0) + count
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
                median_seconds=_bucket_median(buckets[rung]),
            )
        )
    return steps


def _bucket_median(counts: dict[int, int]) -> float | None:
    total = sum(counts.values())
    if not total:
        return None
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if 2 * seen >= total:
            return bucket_middle(bucket)
    return None


def attribution(*, workspace: Workspace, period: Period, touch: str = "first") -> list[Attribution]:
    """People who first reached rung 4 in the period, by first-touch channel and campaign (or by
    last-touch channel), with the revenue of their payments less refunds."""
    people_dim, revenue_dim = (
        (RollupDimension.CONVERTED, RollupDimension.CONVERTED_REVENUE)
        if touch == "first"
        else (RollupDimension.CONVERTED_LAST, RollupDimension.CONVERTED_LAST_REVENUE)
    )
    people = _sums(workspace, people_dim, period)
    revenue = _sums(workspace, revenue_dim, period)
    rows = []
    for key, count in people.items():
        channel, _, campaign = key.partition("|")
        rows.append(Attribution(channel=channel, campaign=campaign, people=count, revenue_minor=revenue.get(key, 0)))
    rows.sort(key=lambda a: (-a.revenue_minor, -a.people, a.channel, a.campaign))
    return rows[:TOP]


def dropoff(*, workspace: Workspace, period: Period) -> tuple[list[DropOff], int]:
    """Of the people first seen in the period who have not reached rung 4: the last thing each did
    (page, message or step) and the rung they are at, most common first; and how many they are."""
    counts = _sums(workspace, RollupDimension.DROPOFF, period)
    total = sum(counts.values())
    rows = []
    for key, people in counts.items():
        rung_text, _, step = key.partition("|")
        if not rung_text.isdigit():
            continue
        kind, label = step_parts(step)
        share = round(100 * people / total, 1) if total else 0.0
        rows.append(DropOff(rung=int(rung_text), kind=kind, label=label, people=people, share=share))
    rows.sort(key=lambda d: (-d.people, d.rung, d.kind, d.label))
    return rows[:TOP], total


def _converted_totals(workspace: Workspace, period: Period) -> tuple[int, int]:
    people = _sums(workspace, RollupDimension.CONVERTED, period)
    revenue = _sums(workspace, RollupDimension.CONVERTED_REVENUE, period)
    return sum(people.values()), sum(revenue.values())


def workspace_currency(workspace: Workspace) -> str:
    """The currency of the workspace's payments (one per workspace assumed)."""
    # Any one row, unordered: `.first()` would order by id and sort every payer of the workspace.
    found = list(
        PersonFacts.objects.filter(workspace=workspace, revenue_minor__gt=0)
        .exclude(currency="")
        .order_by()
        .values_list("currency", flat=True)[:1]
    )
    return found[0] if found else "USD"


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
    stopped, not_converted = dropoff(workspace=workspace, period=period)
    return Dashboard(
        period=period,
        previous=previous,
        series={date: series.get(date, {}) for date in period.dates()},
        channels=channels,
        campaigns=campaigns,
        new_people=sum(n for _, n, _ in channels),
        new_people_before=sum(b for _, _, b in channels),
        funnel=funnel(workspace=workspace, period=period, new_people=sum(n for _, n, _ in channels)),
        converted=converted,
        converted_before=converted_before,
        revenue_minor=revenue,
        revenue_minor_before=revenue_before,
        attribution=attribution(workspace=workspace, period=period),
        last_touch=attribution(workspace=workspace, period=period, touch="last"),
        top=top,
        previous_daily=[before_by_day.get(date, 0) for date in previous.dates()],
        currency=workspace_currency(workspace),
        dropoff=stopped,
        not_converted=not_converted,
    )
