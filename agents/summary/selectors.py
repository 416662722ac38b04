"""The numbers of one workspace's weekly summary, each against the week before.

- Wins: new customers (people who reached rung 4: booked, paid or signed in), revenue (payments less
  refunds), bookings, the best campaign, new people, and the new customers by name.
- Patterns: the channels people came through and how many of them became customers, the hours
  people were busiest (what they did themselves: visits, messages in, calls, clicks, bookings,
  payments), the most viewed pages.
- Gaps: people first seen this week who stopped before booking or paying (by the rung they stopped
  at and what they did last), threads where the person's last message got no answer, and what people
  asked about that the business doesn't sell (the FAQ topics agent's "topics you don't sell").

Wins and patterns come from the daily rollups (identity.rollups: ONE query for every day count of
both weeks) and the people's facts (new customers by name); only the gaps read other rows
(conversations' messages and their topic tags, of the two weeks only). Nothing scans events.
Everything is scoped by the workspace; a week without data gives zeros, never an error."""

import datetime
from dataclasses import dataclass, field

from django.db.models import Max, Q

from agents.models import AgentSetting, Channel, Conversation, Direction, Message, MessageStatus
from agents.registry import FAQ_TOPICS, agent_config
from agents.summary.periods import (
    SummaryPeriod,
    latest_week_key,
    period_for_week,
    period_until,
    send_moment,
    week_key,
    workspace_zone,
)
from agents.topics import topics_parse
from identity.channels import channel_label
from identity.models import CustomerStatus, PersonFacts, RollupDimension
from identity.rollups.dimensions import step_parts
from identity.rollups.selectors import Period, day_sums_compare, workspace_currency
from workspaces.models import Workspace

NEW_ACCOUNTS_LISTED = 8
TOP_PAGES = 5
BUSIEST_LISTED = 3
WAITING_LISTED = 5
TOPICS_LISTED = 5
SUMMARY_DIMENSIONS = (
    RollupDimension.PEOPLE_SOURCE,
    RollupDimension.PEOPLE_CAMPAIGN,
    RollupDimension.CONVERTED,
    RollupDimension.CONVERTED_REVENUE,
    RollupDimension.REVENUE,
    RollupDimension.BOOKINGS,
    RollupDimension.HOUR,
    RollupDimension.PAGE,
    RollupDimension.DROPOFF,
)
# Where people stop, grouped as the owner can act on them: by phone, by email, or not reachable.
STUCK_GROUPS = (
    ((3,), "Reached by phone, not booked or paid"),
    ((2,), "Gave an email, not booked or paid"),
    ((0, 1), "Left without leaving a contact"),
)
# A reply that did not leave does not answer anyone.
NOT_SENT = (MessageStatus.FAILED, MessageStatus.CANCELLED)


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
class NewAccount:
    customer_number: int
    name: str


@dataclass(frozen=True)
class Campaign:
    name: str
    customers: Change  # people of the campaign who reached rung 4 in the week
    revenue_minor: int  # their payments less refunds
    new_people: Change  # people first seen through the campaign


@dataclass(frozen=True)
class ChannelRow:
    key: str
    label: str
    new_people: Change  # first seen through this channel
    customers: Change  # reached rung 4 in the week, first seen through this channel
    revenue_minor: int


@dataclass(frozen=True)
class Hour:
    hour: int
    count: int
    share: int = 0  # percent of the busiest hour, for bar heights

    @property
    def label(self) -> str:
        return f"{self.hour:02d}:00–{(self.hour + 1) % 24:02d}:00"


@dataclass(frozen=True)
class PageRow:
    path: str
    views: Change


@dataclass(frozen=True)
class Stuck:
    rungs: tuple[int, ...]
    label: str
    people: Change
    step_kind: str  # Page, Message or Step: the most common last thing they did this week
    step_label: str


@dataclass(frozen=True)
class Waiting:
    customer_id: int
    name: str
    channel: str
    since: datetime.datetime  # their last message


@dataclass(frozen=True)
class Topic:
    name: str
    asked: Change  # inbound messages tagged with it


@dataclass
class WeeklySummary:
    workspace_name: str
    period: SummaryPeriod
    currency: str
    new_customers: Change
    revenue: Change  # minor units
    bookings: Change
    cancelled: Change
    new_people: Change
    best_campaign: Campaign | None
    new_accounts: list[NewAccount]
    new_accounts_count: int
    channels: list[ChannelRow]
    hours: list[Hour]  # 00 to 23, this week
    busiest: list[Hour]
    busiest_before: Hour | None
    actions: Change  # what people did themselves, all hours
    top_pages: list[PageRow]
    stuck: list[Stuck]
    unanswered: Change
    waiting: list[Waiting]  # this week's unanswered threads still waiting now, oldest first
    waiting_count: int
    unsold: list[Topic] = field(default_factory=list)
    unsold_watched: bool = False  # the FAQ topics agent is on and lists topics not sold

    @property
    def is_quiet(self) -> bool:
        return not (self.new_people.current or self.actions.current or self.revenue.current or self.bookings.current)

    def counts(self) -> dict[str, int]:
        """The headline figures, as stored with the audit row of a send."""
        return {
            "new_customers": self.new_customers.current,
            "revenue_minor": self.revenue.current,
            "bookings": self.bookings.current,
            "new_people": self.new_people.current,
            "unanswered": self.unanswered.current,
        }


def _rollup_period(period: SummaryPeriod) -> Period:
    return Period(start=period.first_day, end=period.last_day)


def _total(counts: dict[str, tuple[int, int]]) -> Change:
    return Change(sum(now for now, _ in counts.values()), sum(before for _, before in counts.values()))


def _revenue(counts: dict[str, tuple[int, int]], currency: str) -> Change:
    paid = counts.get(f"paid:{currency}", (0, 0))
    refunded = counts.get(f"refunded:{currency}", (0, 0))
    return Change(paid[0] - refunded[0], paid[1] - refunded[1])


def _main_currency(counts: dict[str, tuple[int, int]], *, workspace: Workspace) -> str:
    """The currency most was paid in over the two weeks (one currency per workspace is assumed)."""
    paid = {key.partition(":")[2]: now + before for key, (now, before) in counts.items() if key.startswith("paid:")}
    if paid:
        return max(sorted(paid), key=lambda code: paid[code])
    return workspace_currency(workspace)


def _by_first_channel(counts: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Converters' "<channel>|<campaign>" keys summed by channel."""
    out: dict[str, tuple[int, int]] = {}
    for key, (now, before) in counts.items():
        channel = key.partition("|")[0]
        had = out.get(channel, (0, 0))
        out[channel] = (had[0] + now, had[1] + before)
    return out


def _by_campaign(counts: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for key, (now, before) in counts.items():
        campaign = key.partition("|")[2]
        if campaign:
            had = out.get(campaign, (0, 0))
            out[campaign] = (had[0] + now, had[1] + before)
    return out


def _best_campaign(sums: dict[str, dict[str, tuple[int, int]]]) -> Campaign | None:
    """The campaign that brought the most new customers this week (then revenue, then new people);
    in a week without any, the one that brought the most new people."""
    customers = _by_campaign(sums[RollupDimension.CONVERTED])
    revenue = _by_campaign(sums[RollupDimension.CONVERTED_REVENUE])
    people = sums[RollupDimension.PEOPLE_CAMPAIGN]
    names = set(customers) | set(people)
    candidates = [
        Campaign(
            name=name,
            customers=Change(*customers.get(name, (0, 0))),
            revenue_minor=revenue.get(name, (0, 0))[0],
            new_people=Change(*people.get(name, (0, 0))),
        )
        for name in sorted(names)
    ]
    candidates = [c for c in candidates if c.customers.current or c.new_people.current]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.customers.current, c.revenue_minor, c.new_people.current))


def _channels(sums: dict[str, dict[str, tuple[int, int]]]) -> list[ChannelRow]:
    people = sums[RollupDimension.PEOPLE_SOURCE]
    customers = _by_first_channel(sums[RollupDimension.CONVERTED])
    revenue = _by_first_channel(sums[RollupDimension.CONVERTED_REVENUE])
    rows = [
        ChannelRow(
            key=key,
            label=channel_label(key),
            new_people=Change(*people.get(key, (0, 0))),
            customers=Change(*customers.get(key, (0, 0))),
            revenue_minor=revenue.get(key, (0, 0))[0],
        )
        for key in set(people) | set(customers)
    ]
    rows = [r for r in rows if r.new_people.current or r.customers.current]
    return sorted(rows, key=lambda r: (-r.customers.current, -r.revenue_minor, -r.new_people.current, r.label))


def _hours(counts: dict[str, tuple[int, int]]) -> tuple[list[Hour], list[Hour], Hour | None]:
    now = {int(key): n for key, (n, _) in counts.items() if key.isdigit() and int(key) < 24}
    before = {int(key): n for key, (_, n) in counts.items() if key.isdigit() and int(key) < 24}
    top = max(now.values(), default=0)
    hours = [Hour(h, now.get(h, 0), round(now.get(h, 0) * 100 / top) if top else 0) for h in range(24)]
    busiest = sorted((h for h in hours if h.count), key=lambda h: (-h.count, h.hour))[:BUSIEST_LISTED]
    ranked_before = sorted(((n, h) for h, n in before.items() if n), key=lambda nh: (-nh[0], nh[1]))
    busiest_before = Hour(ranked_before[0][1], ranked_before[0][0]) if ranked_before else None
    return hours, busiest, busiest_before


def _top_pages(counts: dict[str, tuple[int, int]]) -> list[PageRow]:
    ranked = sorted((kv for kv in counts.items() if kv[1][0]), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_PAGES]
    return [PageRow(path, Change(now, before)) for path, (now, before) in ranked]


def _stuck(counts: dict[str, tuple[int, int]]) -> list[Stuck]:
    """People first seen in the week (and the week before) who have not reached rung 4 by now, by the
    rung they are at, with the most common last thing those of this week did."""
    groups = []
    for rungs, label in STUCK_GROUPS:
        now = before = 0
        steps: dict[str, int] = {}
        for key, (n, b) in counts.items():
            rung_text, _, step = key.partition("|")
            if not rung_text.isdigit() or int(rung_text) not in rungs:
                continue
            now, before = now + n, before + b
            if n:
                steps[step] = steps.get(step, 0) + n
        top = min(steps, key=lambda s: (-steps[s], s)) if steps else ""
        kind, step_label = step_parts(top) if top else ("", "")
        groups.append(
            Stuck(rungs=rungs, label=label, people=Change(now, before), step_kind=kind, step_label=step_label)
        )
    return groups


def _new_accounts(*, workspace: Workspace, period: SummaryPeriod) -> tuple[list[NewAccount], int]:
    """People who reached rung 4 in the week (their facts, on the index person_facts_rung4)."""
    facts = PersonFacts.objects.filter(
        workspace=workspace,
        rung4_at__gte=period.start,
        rung4_at__lt=period.end,
        customer__status=CustomerStatus.LIVE,
        customer__customer_number__isnull=False,
    )
    listed = [
        NewAccount(int(number or 0), name or email or "")
        for number, name, email in facts.order_by("customer__customer_number").values_list(
            "customer__customer_number", "customer__name", "customer__email"
        )[:NEW_ACCOUNTS_LISTED]
    ]
    count = len(listed) if len(listed) < NEW_ACCOUNTS_LISTED else facts.count()
    return listed, count


def _unanswered(
    *, workspace: Workspace, period: SummaryPeriod, now: datetime.datetime
) -> tuple[Change, list[Waiting], int]:
    """Threads whose last message from the person in a week got no answer (a message out of the same
    conversation that left) before that week ended; and those of this week still waiting now."""
    previous = period.previous
    last_in = list(
        Message.objects.filter(
            workspace=workspace,
            direction=Direction.IN,
            conversation__isnull=False,
            customer__status=CustomerStatus.LIVE,
            created_at__gte=previous.start,
            created_at__lt=period.end,
        )
        .values("conversation_id")
        .annotate(
            now=Max("created_at", filter=Q(created_at__gte=period.start)),
            before=Max("created_at", filter=Q(created_at__lt=period.start)),
        )
        .order_by()
    )
    if not last_in:
        return Change(0, 0), [], 0
    replies: dict[int, list[datetime.datetime]] = {}
    for conversation_id, at in (
        Message.objects.filter(
            workspace=workspace,
            direction=Direction.OUT,
            conversation_id__in=[row["conversation_id"] for row in last_in],
            created_at__gte=previous.start,
        )
        .exclude(status__in=NOT_SENT)
        .values_list("conversation_id", "created_at")
    ):
        replies.setdefault(conversation_id, []).append(at)

    def answered(conversation_id: int, asked: datetime.datetime, by: datetime.datetime) -> bool:
        return any(asked < at < by for at in replies.get(conversation_id, []))

    current = [r for r in last_in if r["now"] and not answered(r["conversation_id"], r["now"], period.end)]
    before = [r for r in last_in if r["before"] and not answered(r["conversation_id"], r["before"], period.start)]
    still = {
        r["conversation_id"]: r["now"]
        for r in current
        if not answered(r["conversation_id"], r["now"], max(now, period.end))
    }
    waiting = [
        Waiting(
            customer_id=conversation.customer_id,
            name=conversation.customer.name or conversation.customer.email or conversation.customer.phone or "",
            channel=Channel(conversation.channel).label,
            since=still[conversation.pk],
        )
        for conversation in _conversations(workspace, sorted(still, key=lambda pk: (still[pk], pk))[:WAITING_LISTED])
    ]
    return Change(len(current), len(before)), sorted(waiting, key=lambda w: w.since), len(still)


def _conversations(workspace: Workspace, ids: list[int]) -> list[Conversation]:
    return list(Conversation.objects.filter(workspace=workspace, pk__in=ids).select_related("customer"))


def _unsold(*, workspace: Workspace, period: SummaryPeriod) -> tuple[list[Topic], bool]:
    """Inbound messages of each week tagged with a topic the business doesn't sell (the FAQ topics
    agent's `not_sold` list); (topics, whether the agent is on and lists any)."""
    setting = AgentSetting.objects.filter(workspace=workspace, agent=FAQ_TOPICS.name, enabled=True).first()
    if setting is None:
        return [], False
    names = set(topics_parse(agent_config(FAQ_TOPICS, setting.config)["not_sold"]))
    if not names:
        return [], False
    previous = period.previous
    counts: dict[str, list[int]] = {name: [0, 0] for name in names}
    for topics, created_at in (
        Message.objects.filter(
            workspace=workspace, direction=Direction.IN, created_at__gte=previous.start, created_at__lt=period.end
        )
        .exclude(topics=[])
        .values_list("topics", "created_at")
    ):
        for topic in set(topics or []) & names:
            counts[topic][0 if created_at >= period.start else 1] += 1
    topics = [Topic(name, Change(now, before)) for name, (now, before) in counts.items() if now or before]
    topics.sort(key=lambda t: (-t.asked.current, -t.asked.previous, t.name))
    return topics[:TOPICS_LISTED], True


def weekly_summary_get(
    *, workspace: Workspace, period: SummaryPeriod, now: datetime.datetime | None = None
) -> WeeklySummary:
    now = now or period.end
    sums = day_sums_compare(
        workspace=workspace,
        dimensions=SUMMARY_DIMENSIONS,
        current=_rollup_period(period),
        previous=_rollup_period(period.previous),
    )
    currency = _main_currency(sums[RollupDimension.REVENUE], workspace=workspace)
    bookings = sums[RollupDimension.BOOKINGS]
    hours, busiest, busiest_before = _hours(sums[RollupDimension.HOUR])
    new_accounts, new_accounts_count = _new_accounts(workspace=workspace, period=period)
    unanswered, waiting, waiting_count = _unanswered(workspace=workspace, period=period, now=now)
    unsold, unsold_watched = _unsold(workspace=workspace, period=period)
    return WeeklySummary(
        workspace_name=workspace.name,
        period=period,
        currency=currency,
        new_customers=_total(sums[RollupDimension.CONVERTED]),
        revenue=_revenue(sums[RollupDimension.REVENUE], currency),
        bookings=Change(*bookings.get("made", (0, 0))),
        cancelled=Change(*bookings.get("cancelled", (0, 0))),
        new_people=_total(sums[RollupDimension.PEOPLE_SOURCE]),
        best_campaign=_best_campaign(sums),
        new_accounts=new_accounts,
        new_accounts_count=new_accounts_count,
        channels=_channels(sums),
        hours=hours,
        busiest=busiest,
        busiest_before=busiest_before,
        actions=_total(sums[RollupDimension.HOUR]),
        top_pages=_top_pages(sums[RollupDimension.PAGE]),
        stuck=_stuck(sums[RollupDimension.DROPOFF]),
        unanswered=unanswered,
        waiting=waiting,
        waiting_count=waiting_count,
        unsold=unsold,
        unsold_watched=unsold_watched,
    )


def weekly_summary_for(*, workspace: Workspace, week_key: str | None, now: datetime.datetime) -> WeeklySummary:
    """The summary of a finished week ("2025-W11"), or of the last seven days until `now` when None.

    ValueError (with a message for the person asking) for a malformed or unfinished week."""
    zone = workspace_zone(workspace.timezone)
    if not week_key:
        return weekly_summary_get(workspace=workspace, period=period_until(now, zone), now=now)
    if send_moment(week_key, zone) > now:
        raise ValueError(f"The week {week_key} has not ended yet: its summary goes out on Friday at 17:00.")
    return weekly_summary_get(workspace=workspace, period=period_for_week(week_key, zone), now=now)


def recent_week_keys(*, workspace: Workspace, now: datetime.datetime, count: int = 8) -> list[str]:
    """The last `count` weeks whose summary went out (or was due), newest first."""
    zone = workspace_zone(workspace.timezone)
    latest = send_moment(latest_week_key(zone=zone, now=now), zone).astimezone(zone).date()
    return [week_key(latest - datetime.timedelta(weeks=n)) for n in range(count)]
