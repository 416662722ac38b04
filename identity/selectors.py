"""Reads of customers and their timelines. The workspace is always a required argument, and "not yours"
and "not there" fail the same way (Http404 / None).

Every list here is keyset-paginated on an index, so a page costs the same at any depth and at any
number of rows: customers on customer_ws_last_seen (workspace, status, -last_seen, -id), a timeline
on event_timeline (customer, occurred_at, id), the live feed on event_live (workspace, -received_at, -id).
"""

import datetime
import functools
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from identity.channels import channel_of
from identity.cursors import cursor_decode, cursor_encode
from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind, PersonFacts
from tracking.dedupe import SERVER_KEY_PREFIX
from tracking.models import Event, Source
from tracking.normalize import claims_from_values
from workspaces.models import Workspace

CUSTOMERS_PER_PAGE = 50
EVENTS_PER_PAGE = 100
LIVE_PER_POLL = 50
LAST_SEEN_WINDOWS = {
    "24h": datetime.timedelta(hours=24),
    "7d": datetime.timedelta(days=7),
    "30d": datetime.timedelta(days=30),
}
LAST_SEEN_CHOICES = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("older", "Older")]
LADDER_CACHE_SECONDS = 30


@dataclass
class CustomerFilters:
    q: str = ""
    rung: int | None = None
    source: str = ""
    seen: str = ""
    channel: str = ""  # a key of identity.channels.CHANNEL_LABELS (first touch or any later touch)
    # Why the search matched nothing by construction, e.g. "not a valid email address".
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.q or self.rung is not None or self.source or self.seen or self.channel)


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


def customers_live(*, workspace: Workspace) -> QuerySet[Customer]:
    return Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE)


def _identifier_owners(workspace: Workspace, kind: str, value_hash: str) -> Any:
    """The ids of the customers owning that identifier, as a subquery."""
    return Identifier.objects.filter(workspace=workspace, kind=kind, value_hash=value_hash).values("customer_id")


def _search_condition(workspace: Workspace, filters: CustomerFilters) -> Q:
    """Email and phone are matched through their keyed hash (never in clear); a number is a customer
    number (`#12` or `12`); anything else is a name or company fragment."""
    q = filters.q.strip()
    if "\x00" in q:
        filters.notes.append("The search contains a NUL character; nothing can match it.")
        return Q(pk__in=[])
    if "@" in q:
        claims = claims_from_values(workspace, email=q)
        if not claims.claims:
            filters.notes.append(f"“{q}” is not a valid email address.")
            return Q(pk__in=[])
        return Q(pk__in=_identifier_owners(workspace, IdentifierKind.EMAIL, claims.claims[0].value_hash))
    condition = Q(pk__in=[])
    number = re.fullmatch(r"#\s*([\d,]+)|([\d,]{1,9})", q)
    if number:
        digits = (number.group(1) or number.group(2)).replace(",", "")
        if digits and int(digits) < 2**31:
            condition |= Q(customer_number=int(digits))
    if sum(c.isdigit() for c in q) >= 6 and not q.startswith("#") and re.fullmatch(r"[\d\s()+.\-]+", q):
        claims = claims_from_values(workspace, phone=q)
        if claims.claims:
            condition |= Q(pk__in=_identifier_owners(workspace, IdentifierKind.PHONE, claims.claims[0].value_hash))
    if not number and not re.fullmatch(r"[\d\s()+.\-#]+", q):
        condition |= Q(name__icontains=q) | Q(company__icontains=q)
    return condition


def customers_filtered(*, workspace: Workspace, filters: CustomerFilters) -> QuerySet[Customer]:
    """Live customers matching the filters (with their dashboard facts joined), unordered."""
    qs = customers_live(workspace=workspace).select_related("facts")
    if filters.q.strip():
        qs = qs.filter(_search_condition(workspace, filters))
    if filters.rung is not None:
        qs = qs.filter(rung=filters.rung)
    if filters.source:
        qs = qs.filter(Exists(Event.objects.filter(customer=OuterRef("pk"), source=filters.source)))
    if filters.seen in LAST_SEEN_WINDOWS:
        qs = qs.filter(last_seen__gte=timezone.now() - LAST_SEEN_WINDOWS[filters.seen])
    elif filters.seen == "older":
        qs = qs.filter(last_seen__lt=timezone.now() - LAST_SEEN_WINDOWS["30d"])
    if filters.channel:
        qs = qs.filter(facts__channels__contains=f",{filters.channel},")
    return qs


# Sorts of the customers list other than the default (most recently seen, keyset-paginated):
# name → (order_by, label). Paginated by page number, up to MAX_SORTED_PAGE.
CUSTOMER_SORTS = {
    "revenue": (("-facts__revenue_minor", "-id"), "Revenue"),
    "events": (("-facts__event_count", "-id"), "Events"),
    "rung": (("-rung", "-last_seen", "-id"), "Rung"),
    "first_seen": (("-first_seen", "-id"), "First seen"),
    "source": (("facts__first_source", "-last_seen", "-id"), "First touch"),
}
MAX_SORTED_PAGE = 200


def customers_page(
    *, workspace: Workspace, filters: CustomerFilters, cursor: str | None = None, limit: int = CUSTOMERS_PER_PAGE
) -> Page[Customer]:
    """Live customers, most recently seen first, filtered; no COUNT over the filtered set."""
    qs = customers_filtered(workspace=workspace, filters=filters)
    if cursor:
        at, pk = cursor_decode(cursor)
        qs = qs.filter(Q(last_seen__lt=at) | Q(last_seen=at, pk__lt=pk), last_seen__lte=at)
    rows = list(qs.order_by("-last_seen", "-id")[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1].last_seen, rows[limit - 1].pk) if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor)


def customers_sorted_page(
    *, workspace: Workspace, filters: CustomerFilters, sort: str, page: int, limit: int = CUSTOMERS_PER_PAGE
) -> tuple[list[Customer], bool]:
    """One page (1-based) of the filtered customers in a CUSTOMER_SORTS order; (rows, has_next)."""
    order, _ = CUSTOMER_SORTS[sort]
    qs = customers_filtered(workspace=workspace, filters=filters).order_by(*order)
    start = (page - 1) * limit
    rows = list(qs[start : start + limit + 1])
    return rows[:limit], len(rows) > limit


def ladder_counts(*, workspace: Workspace) -> list[int]:
    """Live customers per rung 0..4: one GROUP BY on the (workspace, status, rung) index, cached briefly
    so a busy page does not repeat it (at 100,000 customers it is an index-only scan)."""
    key = f"clarm:ladder:{workspace.pk}"
    counts = cache.get(key)
    if counts is None:
        counts = [0] * 5
        for row in customers_live(workspace=workspace).values("rung").annotate(n=Count("id")).order_by():
            if 0 <= row["rung"] <= 4:
                counts[row["rung"]] = row["n"]
        cache.set(key, counts, LADDER_CACHE_SECONDS)
    return list(counts)


def customers_exist(*, workspace: Workspace) -> bool:
    return Customer.objects.filter(workspace=workspace).exists()


def customer_get(*, workspace: Workspace, pk: int) -> Customer:
    """A customer of this workspace (live or merged away), or Http404."""
    customer = Customer.objects.filter(workspace=workspace, pk=pk).first()
    if customer is None:
        raise Http404("No such customer.")
    return customer


def customer_live_get(*, workspace: Workspace, pk: int) -> Customer:
    customer = customer_get(workspace=workspace, pk=pk)
    if customer.status != CustomerStatus.LIVE:
        raise Http404("This customer was merged into another one.")
    return customer


def customer_survivor(*, workspace: Workspace, customer: Customer) -> Customer | None:
    """Where a merged-away customer went (following chains of merges), or None."""
    seen: set[int] = set()
    current = customer
    while current.status == CustomerStatus.MERGED and current.merged_into_id and current.pk not in seen:
        seen.add(current.pk)
        nxt = Customer.objects.filter(workspace=workspace, pk=current.merged_into_id).first()
        if nxt is None:
            return None
        current = nxt
    return current if current.status == CustomerStatus.LIVE else None


def customer_find_by_reference(*, workspace: Workspace, reference: str) -> Customer | None:
    """`#12` is customer number 12; a bare number is a customer id (as in the page address)."""
    text = reference.strip().replace(",", "")
    if match := re.fullmatch(r"#\s*(\d{1,9})", text):
        return customers_live(workspace=workspace).filter(customer_number=int(match.group(1))).first()
    if re.fullmatch(r"\d{1,12}", text):
        return customers_live(workspace=workspace).filter(pk=int(text)).first()
    return None


def customer_identifiers(*, customer: Customer) -> list[Identifier]:
    return list(Identifier.objects.filter(customer=customer).order_by("kind", "created_at", "id"))


def customer_sources(*, customer: Customer) -> list[str]:
    """The channels a customer used, in the canonical order of sources: one EXISTS probe per source on
    the index event_customer_source, so it costs the same for 100 or 100,000 events."""
    flags = (
        Customer.objects.filter(pk=customer.pk)
        .annotate(
            **{f"has_{s}": Exists(Event.objects.filter(customer=OuterRef("pk"), source=s)) for s in Source.values}
        )
        .values(*[f"has_{s}" for s in Source.values])
        .first()
    ) or {}
    return [s for s in Source.values if flags.get(f"has_{s}")]


# The sources whose channel is the source itself (identity.channels.channel_of); the others' channel
# depends on the event's name and properties.
_SOURCE_IS_CHANNEL: tuple[str, ...] = (Source.WEB.value, Source.AD.value, Source.AGENT.value, Source.EMAIL.value)
_SOURCE_NOT_CHANNEL = tuple(s for s in Source.values if s not in _SOURCE_IS_CHANNEL)


def channels_used(*, customer_ids: list[int]) -> dict[int, set[str]]:
    """Channel keys (identity.channels) each customer's events came through, at a cost that does not
    grow with their page views: one EXISTS probe per customer and source whose channel is the source
    itself (the index event_customer_source), and a DISTINCT over the events of the other sources
    only (messages, tracked links, webhooks), by name and `channel` / `provider` properties."""
    used: dict[int, set[str]] = {}
    probes = Customer.objects.filter(pk__in=customer_ids).values_list(
        "pk", *[Exists(Event.objects.filter(customer_id=OuterRef("pk"), source=s)) for s in _SOURCE_IS_CHANNEL]
    )
    for customer_id, *flags in probes:
        for key, present in zip(_SOURCE_IS_CHANNEL, flags, strict=True):
            if present:
                used.setdefault(customer_id, set()).add(key)
    for customer_id, source, name, via, provider in (
        Event.objects.filter(customer_id__in=customer_ids, source__in=_SOURCE_NOT_CHANNEL)
        .values_list("customer_id", "source", "event", "properties__channel", "properties__provider")
        .distinct()
    ):
        props = {"channel": via, "provider": provider}
        used.setdefault(customer_id, set()).add(channel_of(source=source, event=name, properties=props))
    return used


def customer_facts(*, customer: Customer) -> PersonFacts | None:
    """The rollup processor's facts of the person (None until it has reached them)."""
    return PersonFacts.objects.filter(workspace_id=customer.workspace_id, customer=customer).first()


# Payments and bookings come in through provider webhooks (and bookings from Clarm's own agents):
# probes on event_customer_source read only those sources' events, however long the history.
def customer_webhook_events(*, customer: Customer, names: frozenset[str], agents: bool = False) -> list[Event]:
    """The person's events of these names from provider webhooks and, with `agents`, from Clarm's own
    agents. Both are recorded under server keys (`clarm:…`, tracking.dedupe), which no write key can
    claim: an event a write key labels `source: "webhook"` or `"agent"` is not one of them."""
    sources = [Source.WEBHOOK, Source.AGENT] if agents else [Source.WEBHOOK]
    return list(
        Event.objects.filter(
            customer=customer, event__in=names, source__in=sources, message_id__startswith=SERVER_KEY_PREFIX
        ).only("event", "properties", "occurred_at")
    )


def customer_events(*, workspace: Workspace, customer: Customer, source: str = "") -> QuerySet[Event]:
    qs = Event.objects.filter(workspace=workspace, customer=customer)
    return qs.filter(source=source) if source else qs


def customer_events_page(
    *, workspace: Workspace, customer: Customer, source: str = "", cursor: str | None = None, limit: int = 100
) -> Page[Event]:
    """Oldest first; `cursor` is the position of the last event already shown (keyset on event_timeline)."""
    qs = customer_events(workspace=workspace, customer=customer, source=source)
    if cursor:
        at, pk = cursor_decode(cursor)
        qs = qs.filter(Q(occurred_at__gt=at) | Q(occurred_at=at, pk__gt=pk), occurred_at__gte=at)
    rows = list(qs.order_by("occurred_at", "id")[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1].occurred_at, rows[limit - 1].pk) if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor)


def customer_first_event(*, workspace: Workspace, customer: Customer) -> Event | None:
    """The first event (T+0): one LIMIT 1 on the event_timeline index."""
    return customer_events(workspace=workspace, customer=customer).order_by("occurred_at", "id").first()


def customer_rungs_reached(*, workspace: Workspace, customer: Customer) -> dict[int, Event]:
    """For each rung the customer reached, the first event that carried it there (rung ≥ N): the first
    event at exactly each rung (five LIMIT 1 probes on the index event_customer_rung, as scalar
    subqueries of one query: `id = (probe 0) OR id = (probe 1) …`; SQLite refuses a UNION of LIMITed
    selects), then the earliest of those at N or above. Walking the timeline for "rung ≥ N" read the
    whole history of a customer identified late."""
    events = customer_events(workspace=workspace, customer=customer)
    probes = [Q(pk=Subquery(events.filter(rung=r).order_by("occurred_at", "id").values("pk")[:1])) for r in range(5)]
    firsts = list(events.filter(functools.reduce(operator.or_, probes)))
    reached: dict[int, Event] = {}
    for rung in range(customer.rung + 1):
        candidates = [e for e in firsts if e.rung >= rung]
        if candidates:
            reached[rung] = min(candidates, key=lambda e: (e.occurred_at, e.pk))
    return reached


def live_events(*, workspace: Workspace, after_id: int | None = None, limit: int = LIVE_PER_POLL) -> list[Event]:
    """The newest events of the workspace, newest first; with `after_id`, only those received after that
    event (keyset (received_at, id) on event_live). Bots are left out of the feed."""
    qs = Event.objects.filter(workspace=workspace, is_bot=False).select_related("customer")
    if after_id is not None:
        anchor = Event.objects.filter(workspace=workspace, pk=after_id).values_list("received_at", flat=True).first()
        if anchor is None:
            # Unknown or purged anchor: newer ids from the last ten minutes (bounded on the index).
            qs = qs.filter(pk__gt=after_id, received_at__gte=timezone.now() - datetime.timedelta(minutes=10))
        else:
            qs = qs.filter(Q(received_at__gt=anchor) | Q(received_at=anchor, pk__gt=after_id), received_at__gte=anchor)
    return list(qs.order_by("-received_at", "-id")[:limit])


# What the install page's check counts as "from your site": what the snippet and pixels send.
SITE_SOURCES = (Source.WEB, Source.AD, Source.PIXEL)


def site_event_latest(*, workspace: Workspace) -> Event | None:
    """The newest event from the workspace's site (not a bot), for the install check: walks the live
    index (workspace, received_at desc) until the first one."""
    return (
        Event.objects.filter(workspace=workspace, is_bot=False, source__in=SITE_SOURCES)
        .order_by("-received_at", "-id")
        .first()
    )


LOOKUP_KINDS = {
    "email": IdentifierKind.EMAIL,
    "phone": IdentifierKind.PHONE,
    "user_id": IdentifierKind.USER_ID,
    "visitor_id": IdentifierKind.DEVICE,
}


def customer_find_by_identifier(*, workspace: Workspace, param: str, value: str) -> Customer | None:
    """The live customer owning an identifier (`param` one of LOOKUP_KINDS), matched by keyed hash.
    Raises ValueError naming the problem when the value cannot be an identifier."""
    if param == "email":
        claims = claims_from_values(workspace, email=value)
    elif param == "phone":
        claims = claims_from_values(workspace, phone=value)
    elif param == "user_id":
        claims = claims_from_values(workspace, user_id=value)
    else:
        claims = claims_from_values(workspace, device=value)
    if not claims.claims:
        reason = next(iter(claims.notes.values()), "not an identifier")
        raise ValueError(f"{param}: {reason}")
    claim = claims.claims[0]
    identifier = (
        Identifier.objects.filter(workspace=workspace, kind=claim.kind, value_hash=claim.value_hash)
        .select_related("customer")
        .first()
    )
    if identifier is None or identifier.customer.status != CustomerStatus.LIVE:
        return None
    return identifier.customer
