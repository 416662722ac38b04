"""Reads of enrichment: the visitors of a period (companies and people), a workspace's settings and usage."""

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from enrichment.models import EnrichmentSettings, EnrichmentUsage
from enrichment.scoring import DEFAULT_PAGE_WEIGHTS
from identity.models import Customer, CustomerStatus
from tracking.models import Event
from workspaces.models import Workspace

SORTS = {
    "score": ("-intent_score", "-last_seen", "-id"),
    "last_seen": ("-last_seen", "-id"),
    "company": ("company_profile__name", "-last_seen", "-id"),
    "rung": ("-rung", "-last_seen", "-id"),
}
FILTERS = ("industry", "size", "country", "source")


class BadFilter(ValueError):
    pass


@dataclass
class VisitorRow:
    customer: Customer
    pages: int = 0
    visits: int = 0

    @property
    def company(self) -> dict[str, Any]:
        profile = self.customer.company_profile or {}
        return profile if profile.get("name") else {}


@dataclass
class CompanyGroup:
    name: str
    company: dict[str, Any]
    visitors: list[VisitorRow] = field(default_factory=list)

    @property
    def top_score(self) -> int:
        return max((v.customer.intent_score or 0) for v in self.visitors)


def visitors_query(
    *,
    workspace: Workspace,
    since: datetime.datetime,
    until: datetime.datetime | None = None,
    min_score: int | None = None,
    filters: dict[str, str] | None = None,
    sort: str = "score",
) -> QuerySet[Customer]:
    """Live customers of the workspace seen in [since, until), with the filters (score, industry,
    size, country, source) applied; `sort` one of SORTS."""
    if sort not in SORTS:
        raise BadFilter(f"sort must be one of {', '.join(SORTS)}, not “{sort[:20]}”.")
    qs = Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE, last_seen__gte=since)
    if until is not None:
        qs = qs.filter(first_seen__lt=until)
    if min_score is not None:
        qs = qs.filter(intent_score__gte=min_score)
    for name, value in (filters or {}).items():
        if name not in FILTERS:
            raise BadFilter(f"Unknown filter {name[:20]!r}: one of {', '.join(FILTERS)}.")
        if not value:
            continue
        if name == "country":
            qs = qs.filter(company_profile__country__iexact=value)
        else:
            qs = qs.filter(**{f"company_profile__{name}__iexact": value})
    return qs.order_by(*SORTS[sort])


def visitor_rows(*, workspace: Workspace, customers: list[Customer], since: datetime.datetime) -> list[VisitorRow]:
    """Page views and visits (sessions) of each customer since `since`, in one query."""
    ids = [c.pk for c in customers]
    counts = {
        row["customer_id"]: row
        for row in Event.objects.filter(workspace=workspace, customer_id__in=ids, occurred_at__gte=since)
        .values("customer_id")
        .annotate(
            pages=Count("id", filter=Q(event="page_view")),
            visits=Count("session_id", distinct=True, filter=~Q(session_id="")),
            last=Max("occurred_at"),
        )
    }
    return [
        VisitorRow(customer=c, pages=counts.get(c.pk, {}).get("pages", 0), visits=counts.get(c.pk, {}).get("visits", 0))
        for c in customers
    ]


def visitors_by_company(rows: list[VisitorRow]) -> tuple[list[CompanyGroup], list[VisitorRow]]:
    """Visitors with a company grouped under it (groups in the rows' order), and the rest."""
    groups: dict[str, CompanyGroup] = {}
    people: list[VisitorRow] = []
    for row in rows:
        company = row.company
        if not company:
            people.append(row)
            continue
        key = (company.get("domain") or company["name"]).lower()
        groups.setdefault(key, CompanyGroup(name=company["name"], company=company)).visitors.append(row)
    return list(groups.values()), people


def enrichment_settings_get(*, workspace: Workspace) -> EnrichmentSettings | None:
    return EnrichmentSettings.objects.filter(workspace=workspace).first()


def page_weights_in_force(config: EnrichmentSettings | None) -> list[dict[str, Any]]:
    return (config.page_weights if config is not None and config.page_weights else None) or DEFAULT_PAGE_WEIGHTS


def enrichment_usage_get(*, workspace: Workspace) -> EnrichmentUsage:
    return EnrichmentUsage.objects.filter(workspace=workspace).first() or EnrichmentUsage(workspace=workspace)


def filter_choices(*, workspace: Workspace, since: datetime.datetime) -> dict[str, list[str]]:
    """The values seen in the period, for the filter menus."""
    qs = Customer.objects.filter(workspace=workspace, status=CustomerStatus.LIVE, last_seen__gte=since).exclude(
        company_profile__name__isnull=True
    )
    out: dict[str, list[str]] = {}
    for name in FILTERS:
        values = qs.values_list(f"company_profile__{name}", flat=True).distinct()[:200]
        out[name] = sorted({str(v) for v in values if v})
    return out
