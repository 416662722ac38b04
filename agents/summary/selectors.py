"""The numbers of one workspace's weekly summary. Every figure is an aggregate query (GROUP BY in
the database), scoped by the workspace; a week without data gives zeros, never an error."""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Case, CharField, Count, Expression, F, Min, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Left, StrIndex

from agents.summary.periods import (
    SummaryPeriod,
    latest_week_key,
    period_ending,
    period_for_week,
    send_moment,
    week_key,
    workspace_zone,
)
from identity.models import Customer, CustomerStatus, Rung
from tracking.models import Event, Source
from workspaces.models import Workspace

CLIMB_RUNGS = (Rung.EMAIL, Rung.PHONE, Rung.ACCOUNT)
TOP_N = 5
NEW_ACCOUNTS_LISTED = 8


@dataclass(frozen=True)
class Change:
    """This week against the week before."""

    current: int
    previous: int

    @property
    def percent(self) -> int | None:
        if self.previous == 0:
            return None
        return round((self.current - self.previous) * 100 / self.previous)

    @property
    def label(self) -> str:
        if self.previous == 0:
            return "new" if self.current else "±0"
        pct = self.percent or 0
        if pct == 0:
            return "±0%"
        return f"+{pct}%" if pct > 0 else f"−{abs(pct)}%"

    @property
    def direction(self) -> str:
        if self.current > self.previous:
            return "up"
        if self.current < self.previous:
            return "down"
        return "flat"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    count: int
    share: int = 0  # percent of the largest row, for bar widths


@dataclass(frozen=True)
class NewAccount:
    customer_number: int
    name: str


@dataclass
class WeeklySummary:
    workspace_name: str
    period: SummaryPeriod
    new_customers: Change
    events: Change
    reached: list[tuple[Row, Change]]  # rung 2/3/4 reached this week, with the week before
    ladder: list[Row]  # live customers per rung now
    customers_total: int
    new_accounts: list[NewAccount]
    new_accounts_count: int
    sources: list[tuple[Row, Change]]
    top_pages: list[Row] = field(default_factory=list)
    top_campaigns: list[Row] = field(default_factory=list)

    @property
    def is_quiet(self) -> bool:
        return self.events.current == 0 and self.new_customers.current == 0 and self.new_accounts_count == 0

    def counts(self) -> dict[str, int]:
        """The headline figures, as stored with the audit row of a send."""
        return {
            "new_customers": self.new_customers.current,
            "events": self.events.current,
            **{f"reached_rung_{row.key}": change.current for row, change in self.reached},
            "new_accounts": self.new_accounts_count,
        }


def _with_shares(rows: list[Row]) -> list[Row]:
    top = max((r.count for r in rows), default=0)
    return [Row(r.key, r.label, r.count, round(r.count * 100 / top) if top else 0) for r in rows]


def _events(*, workspace: Workspace) -> QuerySet[Event]:
    # Bots are counted at ingest but are not the business's customers: the summary leaves them out.
    return Event.objects.filter(workspace=workspace, is_bot=False)


def _in(period: SummaryPeriod, prefix: str = "occurred_at") -> Q:
    return Q(**{f"{prefix}__gte": period.start, f"{prefix}__lt": period.end})


def _new_customers(*, workspace: Workspace, period: SummaryPeriod) -> Change:
    previous = period.previous
    totals = Customer.objects.filter(
        workspace=workspace, status=CustomerStatus.LIVE, first_seen__gte=previous.start, first_seen__lt=period.end
    ).aggregate(
        current=Count("pk", filter=_in(period, "first_seen")),
        previous=Count("pk", filter=_in(previous, "first_seen")),
    )
    return Change(totals["current"], totals["previous"])


def _ladder(*, workspace: Workspace) -> list[Row]:
    per_rung = dict(
        Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE)
        .values_list("rung")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return _with_shares([Row(str(r.value), r.label, per_rung.get(r.value, 0)) for r in Rung])


def _sources(*, workspace: Workspace, period: SummaryPeriod) -> list[tuple[Row, Change]]:
    previous = period.previous
    per_source = {
        row["source"]: row
        for row in _events(workspace=workspace)
        .filter(occurred_at__gte=previous.start, occurred_at__lt=period.end)
        .values("source")
        .annotate(current=Count("pk", filter=_in(period)), previous=Count("pk", filter=_in(previous)))
        .order_by()
    }
    rows = _with_shares([Row(s.value, s.label, per_source.get(s.value, {}).get("current", 0)) for s in Source])
    return [(row, Change(row.count, per_source.get(row.key, {}).get("previous", 0))) for row in rows]


def _first_reached(*, workspace: Workspace, period: SummaryPeriod) -> QuerySet:
    """Per customer active at rung 2+ in this or the previous week: when each rung was first reached
    (an event's `rung` is the customer's rung right after it)."""
    active = (
        Event.objects.filter(workspace=workspace, customer__isnull=False, rung__gte=Rung.EMAIL)
        .filter(occurred_at__gte=period.previous.start, occurred_at__lt=period.end)
        .values("customer_id")
    )
    return (
        Event.objects.filter(workspace=workspace, customer_id__in=active, rung__gte=Rung.EMAIL)
        .values("customer_id")
        .annotate(**{f"r{r.value}": Min("occurred_at", filter=Q(rung__gte=r.value)) for r in CLIMB_RUNGS})
        .order_by()
    )


def _reached(*, firsts: QuerySet, period: SummaryPeriod) -> list[tuple[Row, Change]]:
    previous = period.previous
    counts = firsts.aggregate(
        **{f"cur{r.value}": Count("customer_id", filter=_in(period, f"r{r.value}")) for r in CLIMB_RUNGS},
        **{f"prev{r.value}": Count("customer_id", filter=_in(previous, f"r{r.value}")) for r in CLIMB_RUNGS},
    )
    rows = _with_shares([Row(str(r.value), r.label, counts[f"cur{r.value}"]) for r in CLIMB_RUNGS])
    return [(row, Change(row.count, counts[f"prev{row.key}"])) for row in rows]


def _new_accounts(*, workspace: Workspace, firsts: QuerySet, period: SummaryPeriod) -> tuple[list[NewAccount], int]:
    reached_account = firsts.filter(_in(period, f"r{Rung.ACCOUNT.value}")).values("customer_id")
    customers = Customer.objects.filter(
        workspace=workspace, status=CustomerStatus.LIVE, customer_number__isnull=False, pk__in=reached_account
    )
    listed = [
        NewAccount(int(number or 0), name or email or "")
        for number, name, email in customers.order_by("customer_number").values_list(
            "customer_number", "name", "email"
        )[:NEW_ACCOUNTS_LISTED]
    ]
    count = len(listed) if len(listed) < NEW_ACCOUNTS_LISTED else customers.count()
    return listed, count


def _without_scheme(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


def _top(qs: QuerySet, *, expression: Expression, label: Callable[[str], str] = str) -> list[Row]:
    # Cast to text: compared with "" as a JSON key transform, SQLite reads "" as JSON and fails.
    rows = (
        qs.annotate(key=Cast(expression, output_field=CharField()))
        .exclude(key__isnull=True)
        .exclude(key="")
        .values("key")
        .annotate(n=Count("pk"))
        .order_by("-n", "key")[:TOP_N]
    )
    return _with_shares([Row(r["key"], label(r["key"]), r["n"]) for r in rows])


def _page_without_query() -> Case:
    url = KT("context__url")
    return Case(
        When(Q(url_q__gt=0), then=Left(url, F("url_q") - 1)),
        default=url,
        output_field=CharField(),
    )


def weekly_summary_get(*, workspace: Workspace, period: SummaryPeriod) -> WeeklySummary:
    firsts = _first_reached(workspace=workspace, period=period)
    new_accounts, new_accounts_count = _new_accounts(workspace=workspace, firsts=firsts, period=period)
    sources = _sources(workspace=workspace, period=period)
    ladder = _ladder(workspace=workspace)
    week_events = _events(workspace=workspace).filter(_in(period))
    pages = week_events.filter(event="page_view").annotate(url_q=StrIndex(KT("context__url"), Value("?")))
    return WeeklySummary(
        workspace_name=workspace.name,
        period=period,
        new_customers=_new_customers(workspace=workspace, period=period),
        events=Change(sum(r.count for r, _ in sources), sum(c.previous for _, c in sources)),
        reached=_reached(firsts=firsts, period=period),
        ladder=ladder,
        customers_total=sum(r.count for r in ladder),
        new_accounts=new_accounts,
        new_accounts_count=new_accounts_count,
        sources=sources,
        top_pages=_top(pages, expression=_page_without_query(), label=_without_scheme),
        top_campaigns=_top(week_events, expression=KT("context__attribution__utm_campaign")),
    )


def weekly_summary_for(*, workspace: Workspace, week_key: str | None, now: datetime.datetime) -> WeeklySummary:
    """The summary of a finished week ("2025-W11"), or of the seven days until `now` when None.

    ValueError (with a message for the person asking) for a malformed or unfinished week."""
    zone = workspace_zone(workspace.timezone)
    if not week_key:
        return weekly_summary_get(workspace=workspace, period=period_ending(now, zone))
    period = period_for_week(week_key, zone)
    if period.end > now:
        raise ValueError(f"The week {week_key} has not ended yet: its summary goes out on Friday at 17:00.")
    return weekly_summary_get(workspace=workspace, period=period)


def recent_week_keys(*, workspace: Workspace, now: datetime.datetime, count: int = 8) -> list[str]:
    """The last `count` finished weeks, newest first."""
    zone = workspace_zone(workspace.timezone)
    latest = send_moment(latest_week_key(zone=zone, now=now), zone).astimezone(zone).date()
    return [week_key(latest - datetime.timedelta(weeks=n)) for n in range(count)]
