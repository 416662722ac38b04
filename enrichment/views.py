"""Analytics → Visitors (companies and people of a period, CSV export), Settings → Enrichment, and
`GET /api/visitors`. Thin: reads from enrichment.selectors, writes through enrichment.services."""

import csv
import datetime
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from enrichment import selectors
from enrichment.forms import EnrichmentSettingsForm
from enrichment.scoring import BadWeights
from enrichment.services import enrichment_settings_update, person_enrichment_on
from identity.api.serializers import CustomerListOut, CustomerOut
from identity.api.views import ERRORS, SecretKeyApi, error
from identity.privacy.exports import _csv_safe
from identity.timeline import RUNG_NAMES
from workspaces.models import Role
from workspaces.roles import role_at_least
from workspaces.views_base import WorkspaceMixin, forbidden

PERIODS = {"1": 1, "7": 7, "30": 30, "90": 90}
PAGE_ROWS = 500
API_DEFAULT_LIMIT = 100
API_MAX_LIMIT = 500
CSV_COLUMNS = (
    "customer_id",
    "customer_number",
    "name",
    "email",
    "company",
    "domain",
    "industry",
    "size",
    "revenue_range",
    "location",
    "enterprise_score",
    "company_source",
    "intent_score",
    "rung",
    "pages",
    "visits",
    "last_seen",
)


def _int(text: str | None, name: str, low: int, high: int) -> int | None:
    if text is None or text == "":
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not “{text[:20]}”.")
    return int(text)


def _since(text: str) -> datetime.datetime:
    try:
        at = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since must be an ISO 8601 date or time, not “{text[:40]}”.") from None
    return at if at.tzinfo else at.replace(tzinfo=datetime.UTC)


def _csv_rows(rows: list[selectors.VisitorRow]) -> Iterator[list[Any]]:
    for row in rows:
        c, company = row.customer, row.company
        yield [
            c.pk,
            c.customer_number if c.rung == 4 else "",
            c.name,
            c.email,
            company.get("name", ""),
            company.get("domain", ""),
            company.get("industry", ""),
            company.get("size", ""),
            company.get("revenue_range", ""),
            company.get("location", ""),
            company.get("enterprise_score", ""),
            company.get("source", ""),
            c.intent_score if c.intent_score is not None else "",
            c.rung,
            row.pages,
            row.visits,
            c.last_seen.isoformat(),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


class VisitorsView(WorkspaceMixin, View):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        period = request.GET.get("days", "7")
        if period not in PERIODS:
            return render(request, "identity/bad_request.html", {"error": "days must be 1, 7, 30 or 90."}, status=400)
        since = timezone.now() - datetime.timedelta(days=PERIODS[period])
        filters = {name: request.GET.get(name, "").strip()[:100] for name in selectors.FILTERS}
        sort = request.GET.get("sort", "score")
        try:
            min_score = _int(request.GET.get("min_score"), "min_score", 0, 100)
            qs = selectors.visitors_query(
                workspace=self.workspace, since=since, min_score=min_score, filters=filters, sort=sort
            )
        except (ValueError, selectors.BadFilter) as exc:
            return render(request, "identity/bad_request.html", {"error": str(exc)}, status=400)
        if request.GET.get("format") == "csv":
            return self._csv(qs, since)
        customers = list(qs[: PAGE_ROWS + 1])
        rows = selectors.visitor_rows(workspace=self.workspace, customers=customers[:PAGE_ROWS], since=since)
        groups, people = selectors.visitors_by_company(rows)
        query = request.GET.copy()
        query["format"] = "csv"
        context = {
            "nav": "visitors",
            "groups": groups,
            "people": people,
            "total": len(rows),
            "truncated": len(customers) > PAGE_ROWS,
            "period": period,
            "periods": list(PERIODS),
            "filters": filters,
            "min_score": min_score,
            "sort": sort,
            "sorts": list(selectors.SORTS),
            "choices": selectors.filter_choices(workspace=self.workspace, since=since),
            "csv_query": query.urlencode(),
            "rung_names": RUNG_NAMES,
        }
        return render(request, "enrichment/visitors.html", context)

    def _csv(self, qs: Any, since: datetime.datetime) -> StreamingHttpResponse:
        workspace = self.workspace
        writer = csv.writer(_Echo())

        def body() -> Iterator[str]:
            yield writer.writerow(CSV_COLUMNS)
            chunk: list[Any] = []
            for customer in qs.iterator(chunk_size=PAGE_ROWS):
                chunk.append(customer)
                if len(chunk) == PAGE_ROWS:
                    yield from self._chunk(workspace, chunk, since, writer)
                    chunk = []
            yield from self._chunk(workspace, chunk, since, writer)

        response = StreamingHttpResponse(body(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="visitors-{workspace.slug}.csv"'
        return response

    @staticmethod
    def _chunk(workspace: Any, chunk: list[Any], since: datetime.datetime, writer: Any) -> Iterator[str]:
        if not chunk:
            return
        for values in _csv_rows(selectors.visitor_rows(workspace=workspace, customers=chunk, since=since)):
            yield writer.writerow([_csv_safe(v) for v in values])


class EnrichmentSettingsView(WorkspaceMixin, View):
    def _render(self, form: EnrichmentSettingsForm, *, status: int = 200) -> HttpResponse:
        config = selectors.enrichment_settings_get(workspace=self.workspace)
        can_edit = role_at_least(self.membership, Role.ADMIN)
        context = {
            "form": form,
            "can_edit": can_edit,
            "nav": "settings",
            "subnav": "enrichment",
            "usage": selectors.enrichment_usage_get(workspace=self.workspace),
            "has_key": bool(config and config.api_key_encrypted),
            "has_person_key": bool(config and config.person_api_key_encrypted),
            "person_on": person_enrichment_on(workspace=self.workspace, config=config),
        }
        return render(self.request, "enrichment/settings.html", context, status=status)

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        config = selectors.enrichment_settings_get(workspace=self.workspace)
        return self._render(EnrichmentSettingsForm(initial=EnrichmentSettingsForm.initial_for(config)))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not role_at_least(self.membership, Role.ADMIN):
            return forbidden(request, "Only owners and admins change the enrichment settings.")
        form = EnrichmentSettingsForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        data = form.cleaned_data
        try:
            enrichment_settings_update(
                workspace=self.workspace,
                actor=request.user,  # type: ignore[arg-type]
                provider=data["provider"],
                api_key="" if data["remove_api_key"] else (data["api_key"] or None),
                person_api_key=data["person_api_key"] or None,
                person_enrichment=form.person_choice(),
                page_weights=data["page_weights"],
            )
        except BadWeights as exc:
            form.add_error(None, str(exc))
            return self._render(form, status=400)
        messages.success(request, "Enrichment settings saved.")
        return redirect("enrichment:settings", ws=self.workspace.slug)


class VisitorsApi(SecretKeyApi):
    @extend_schema(
        operation_id="visitors_list",
        summary="Customers seen since a time, highest intent first",
        parameters=[
            OpenApiParameter("since", str, required=True, description="ISO 8601: customers last seen since then"),
            OpenApiParameter("min_score", int, description="Only intent scores at or above (0-100)"),
            OpenApiParameter("limit", int, description=f"1 to {API_MAX_LIMIT} (default {API_DEFAULT_LIMIT})"),
            OpenApiParameter("offset", int, description="Given in `next`"),
        ],
        responses={200: CustomerListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        since_text = request.query_params.get("since")
        if not since_text:
            return error(400, "Missing since: give an ISO 8601 time, e.g. 2026-11-01T00:00:00Z.")
        try:
            since = _since(since_text)
            min_score = _int(request.query_params.get("min_score"), "min_score", 0, 100)
            limit = _int(request.query_params.get("limit"), "limit", 1, API_MAX_LIMIT) or API_DEFAULT_LIMIT
            offset = _int(request.query_params.get("offset"), "offset", 0, 10**9) or 0
        except ValueError as exc:
            return error(400, str(exc))
        qs = selectors.visitors_query(workspace=self.workspace(request), since=since, min_score=min_score)
        page = list(qs.prefetch_related("identifiers")[offset : offset + limit + 1])
        more = len(page) > limit
        next_url = None
        if more:
            query = request.query_params.copy()
            query["offset"] = str(offset + limit)
            next_url = f"{request.path}?{query.urlencode()}"
        return Response({"results": CustomerOut(page[:limit], many=True).data, "next": next_url})
