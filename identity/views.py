"""Workspace pages for customers: the list with the ladder, one customer's ledger, and the live feed.
Thin: reads come from identity.selectors, writes from the merge/split services."""

import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.views import View
from django.views.generic import TemplateView

from identity import selectors
from identity.channels import (
    CHANNEL_LABELS,
    SOURCE_WORDS,
    channel_label,
    channel_of,
    channels_from_text,
    channels_text,
)
from identity.cursors import BadCursor
from identity.customer_export import customers_csv
from identity.customer_header import customer_header
from identity.models import Customer, CustomerStatus, Identifier, IdentifierKind
from identity.privacy.tokens import PREFERENCES_MAX_AGE, preferences_url
from identity.rollups.dimensions import PAYMENT_EVENTS, REFUND_EVENTS
from identity.services import customers_merge_manual, device_split
from identity.stitching.stitcher import events_ingest_stitched
from identity.timeline import (
    BOOKING_TIMELINE_EVENTS,
    INSTALL_TEST_EVENT,
    RUNG_BLURBS,
    RUNG_NAMES,
    event_text,
    money,
    relative_time,
)
from tracking.inputs import EventInput
from tracking.models import Event, Source
from workspaces.models import Role
from workspaces.roles import role_at_least
from workspaces.views_base import WorkspaceMixin
from workspaces.zones import workspace_zone

SOURCE_LABELS = dict(Source.choices)


def bad_request(request: HttpRequest, error: str) -> HttpResponse:
    return render(request, "identity/bad_request.html", {"error": error}, status=400)


def customer_row(customer: Customer) -> dict[str, Any]:
    """One row of the customers list: the customer, its label and its dashboard facts in words."""
    facts = getattr(customer, "facts", None)
    return {
        "obj": customer,
        "label": customer_label(customer),
        "first_touch": channel_label(facts.first_source) if facts else "",
        "first_campaign": facts.first_campaign if facts else "",
        "channels": [(key, channel_label(key)) for key in channels_from_text(facts.channels)] if facts else [],
        "events": facts.event_count if facts else None,
        "revenue": money(facts.revenue_minor, facts.currency or "USD", minor_units=True)
        if facts and facts.revenue_minor
        else "",
    }


def customer_label(customer: Customer | None) -> str:
    if customer is None:
        return "Anonymous (not stitched)"
    if customer.customer_number:
        label = f"#{customer.customer_number:,}"
        return f"{customer.name} ({label})" if customer.name else f"Customer {label}"
    return customer.name or customer.email or f"Anonymous visitor {customer.pk}"


@dataclass
class LedgerEntry:
    event: Event
    title: str
    description: str
    relative: str
    rung_name: str
    source_label: str
    milestone: str = ""  # "Reached rung 2: email" on the event that carried the person there
    payload: str = ""  # the stored event as JSON, shown on a click


def event_payload(event: Event) -> str:
    """The event as stored (identifiers are hashes and masks there), for the owner to read."""
    stored = {
        "id": event.pk,
        "event": event.event,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "message_id": event.message_id,
        "session_id": event.session_id,
        "rung": event.rung,
        "is_bot": event.is_bot,
        "properties": event.properties,
        "context": event.context,
    }
    return json.dumps(stored, indent=2, ensure_ascii=False, default=str)


def ledger_entries(
    events: list[Event], first_at: datetime.datetime | None, reached: dict[int, Event] | None = None
) -> list[LedgerEntry]:
    """Timeline rows in words; `reached` (rung → the event that reached it) marks milestones, so
    a rung shows where it changed instead of on every row."""
    milestones: dict[int, list[int]] = {}
    for rung, reaching in (reached or {}).items():
        if rung > 0:
            milestones.setdefault(reaching.pk, []).append(rung)
    entries = []
    for event in events:
        text = event_text(event=event.event, source=event.source, properties=event.properties, context=event.context)
        entries.append(
            LedgerEntry(
                event=event,
                title=text.title,
                description=text.description,
                relative=relative_time(event.occurred_at - first_at) if first_at else "T+0",
                rung_name=RUNG_NAMES.get(event.rung, "?"),
                source_label=channel_label(
                    channel_of(source=event.source, event=event.event, properties=event.properties)
                ),
                milestone=_milestone_text(milestones.get(event.pk, [])),
                payload=event_payload(event),
            )
        )
    return entries


def _milestone_text(rungs: list[int]) -> str:
    if not rungs:
        return ""
    top = max(rungs)
    return f"Reached rung {top}: {RUNG_NAMES.get(top, '?')}"


def _filters_from(request: HttpRequest) -> selectors.CustomerFilters:
    """Raises ValueError naming the bad parameter."""
    get = request.GET
    rung_text = get.get("rung", "").strip()
    rung = None
    if rung_text:
        if rung_text not in {"0", "1", "2", "3", "4"}:
            raise ValueError(f"rung must be 0 to 4, not “{rung_text[:20]}”.")
        rung = int(rung_text)
    source = get.get("source", "").strip()
    if source and source not in Source.values:
        raise ValueError(f"source must be one of {', '.join(Source.values)}, not “{source[:20]}”.")
    seen = get.get("seen", "").strip()
    if seen and seen not in dict(selectors.LAST_SEEN_CHOICES):
        raise ValueError(f"seen must be one of 24h, 7d, 30d, older, not “{seen[:20]}”.")
    channel = get.get("channel", "").strip()
    if channel and channel not in CHANNEL_LABELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNEL_LABELS)}, not “{channel[:20]}”.")
    return selectors.CustomerFilters(q=get.get("q", "")[:200], rung=rung, source=source, seen=seen, channel=channel)


def _sort_from(request: HttpRequest) -> tuple[str, int]:
    """(sort, page); raises ValueError naming the bad parameter."""
    sort = request.GET.get("sort", "").strip()
    if sort and sort not in selectors.CUSTOMER_SORTS:
        raise ValueError(f"sort must be one of last_seen, {', '.join(selectors.CUSTOMER_SORTS)}, not “{sort[:20]}”.")
    page_text = request.GET.get("page", "1").strip() or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= selectors.MAX_SORTED_PAGE:
        raise ValueError(f"page must be a number from 1 to {selectors.MAX_SORTED_PAGE}, not “{page_text[:10]}”.")
    return sort, int(page_text)


class CustomersView(WorkspaceMixin, TemplateView):
    template_name = "identity/customers.html"
    extra_context = {"nav": "customers"}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            filters = _filters_from(request)
            sort, page_number = _sort_from(request)
            if sort:
                sorted_rows, has_next = selectors.customers_sorted_page(
                    workspace=self.workspace, filters=filters, sort=sort, page=page_number
                )
                page = selectors.Page(rows=sorted_rows, next_cursor=None)
            else:
                has_next = False
                page = selectors.customers_page(
                    workspace=self.workspace, filters=filters, cursor=request.GET.get("after") or None
                )
        except BadCursor as exc:
            return bad_request(request, f"after: {exc}. Start again from the first page.")
        except ValueError as exc:
            return bad_request(request, str(exc))
        counts = selectors.ladder_counts(workspace=self.workspace)
        top = max(counts) or 1
        ladder = [
            {
                "rung": rung,
                "name": RUNG_NAMES[rung],
                "blurb": RUNG_BLURBS[rung],
                "count": count,
                "pct": round(100 * count / top, 1),
            }
            for rung, count in enumerate(counts)
        ]
        has_any = bool(sum(counts)) or bool(page.rows) or selectors.customers_exist(workspace=self.workspace)
        query = request.GET.copy()
        query.pop("after", None)
        query.pop("page", None)
        unsorted = query.copy()
        unsorted.pop("sort", None)
        context = self.get_context_data(
            filters=filters,
            sort=sort,
            sort_links=[
                {
                    "key": key,
                    "label": label,
                    "query": (unsorted.urlencode() + "&" if unsorted else "") + (f"sort={key}" if key else ""),
                }
                for key, label in [("", "Last seen"), *[(k, v[1]) for k, v in selectors.CUSTOMER_SORTS.items()]]
            ],
            page_number=page_number,
            next_page=page_number + 1 if has_next else None,
            csv_query=query.urlencode(),
            channels=list(CHANNEL_LABELS.items()),
            customers=[customer_row(c) for c in page.rows],
            next_cursor=page.next_cursor,
            is_continued=bool(request.GET.get("after")),
            base_query=query.urlencode(),
            ladder=ladder,
            total_live=sum(counts),
            has_any=has_any,
            sources=[(s, SOURCE_WORDS[s]) for s in Source.values],
            seen_choices=selectors.LAST_SEEN_CHOICES,
            rungs=[(r, RUNG_NAMES[r]) for r in range(5)],
        )
        return self.render_to_response(context)


class CustomersCsvView(WorkspaceMixin, View):
    """The filtered customers list (same parameters as the page, in the same order) as CSV."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            filters = _filters_from(request)
            sort, _ = _sort_from(request)
        except ValueError as exc:
            return bad_request(request, str(exc))
        rows = selectors.customers_filtered(workspace=self.workspace, filters=filters)
        order = selectors.CUSTOMER_SORTS[sort][0] if sort else ("-last_seen", "-id")
        response = StreamingHttpResponse(customers_csv(rows.order_by(*order)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customers-{self.workspace.slug}.csv"'
        return response


class CustomerView(WorkspaceMixin, TemplateView):
    template_name = "identity/customer.html"
    extra_context = {"nav": "customers"}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = selectors.customer_get(workspace=self.workspace, pk=kwargs["pk"])
        if customer.status != CustomerStatus.LIVE:
            survivor = selectors.customer_survivor(workspace=self.workspace, customer=customer)
            if survivor is None:
                raise Http404("No such customer.")
            messages.info(request, f"Customer {customer.pk} was merged into this customer.")
            return redirect("identity:customer", ws=self.workspace.slug, pk=survivor.pk)
        source = request.GET.get("source", "").strip()
        if source and source not in Source.values:
            return bad_request(request, f"source must be one of {', '.join(Source.values)}, not “{source[:20]}”.")
        cursor = request.GET.get("after") or None
        try:
            page = selectors.customer_events_page(
                workspace=self.workspace,
                customer=customer,
                source=source,
                cursor=cursor,
                limit=selectors.EVENTS_PER_PAGE,
            )
        except BadCursor as exc:
            return bad_request(request, f"after: {exc}.")
        # T+0 is the customer's very first event; on the first unfiltered page that is the first row.
        if page.rows and not cursor and not source:
            first: Event | None = page.rows[0]
        else:
            first = selectors.customer_first_event(workspace=self.workspace, customer=customer)
        first_at = first.occurred_at if first else None
        reached = selectors.customer_rungs_reached(workspace=self.workspace, customer=customer)
        entries = ledger_entries(page.rows, first_at, reached)
        more_url = None
        if page.next_cursor:
            more_url = "?" + "&".join(
                p for p in (f"source={source}" if source else "", f"after={page.next_cursor}") if p
            )
        if request.GET.get("fragment") == "1":
            return render(
                request,
                "identity/_ledger_rows.html",
                {"entries": entries, "workspace": self.workspace, "more_url": more_url},
            )
        reached_text = {r: ledger_entries([e], first_at)[0] for r, e in reached.items()}
        on_page: dict[int, list[LedgerEntry]] = {r: [] for r in range(5)}
        for entry in entries:
            on_page.setdefault(entry.event.rung, []).append(entry)
        ladder = [
            {
                "rung": r,
                "name": RUNG_NAMES[r],
                "blurb": RUNG_BLURBS[r],
                "reached": r <= customer.rung,
                "via": reached_text.get(r),
                "events": on_page.get(r, [])[:4],
                "more": max(0, len(on_page.get(r, [])) - 4),
            }
            for r in range(4, -1, -1)
        ]
        facts = selectors.customer_facts(customer=customer)
        fallback: set[str] = (
            set() if facts else selectors.channels_used(customer_ids=[customer.pk]).get(customer.pk, set())
        )
        header = customer_header(
            customer=customer,
            first=first,
            facts=facts,
            fallback_channels=channels_from_text(channels_text(fallback)),
            payments=selectors.customer_webhook_events(customer=customer, names=PAYMENT_EVENTS | REFUND_EVENTS),
            bookings=selectors.customer_webhook_events(customer=customer, names=BOOKING_TIMELINE_EVENTS, agents=True),
            now=timezone.now(),
        )
        can_manage = role_at_least(self.membership, Role.ADMIN)
        identifiers = selectors.customer_identifiers(customer=customer)
        by_kind: dict[str, list[Identifier]] = {}
        for identifier in identifiers:
            by_kind.setdefault(identifier.get_kind_display(), []).append(identifier)
        context = self.get_context_data(
            workspace=self.workspace,
            customer=customer,
            label=customer_label(customer),
            entries=entries,
            more_url=more_url,
            is_continued=bool(cursor),
            first_at=first_at,
            source=source,
            sources_used=[
                (s, SOURCE_WORDS.get(s, SOURCE_LABELS[s])) for s in selectors.customer_sources(customer=customer)
            ],
            all_sources=[(s, SOURCE_WORDS[s]) for s in Source.values],
            identifiers_by_kind=sorted(by_kind.items()),
            devices=[i for i in identifiers if i.kind == IdentifierKind.DEVICE],
            ladder=ladder,
            rung_name=RUNG_NAMES.get(customer.rung, "?"),
            can_manage=can_manage,
            header=header,
            # The person's own preferences link (signed, expiring), for an admin to send them.
            privacy_link=preferences_url(customer) if can_manage else "",
            privacy_link_days=PREFERENCES_MAX_AGE.days,
            consent=[
                ("Analytics tracking", customer.allow_analytics),
                ("Marketing email", customer.allow_marketing_email),
                ("Marketing SMS / WhatsApp", customer.allow_marketing_sms),
                ("Ad send-back", customer.allow_ad_sendback),
            ],
        )
        return self.render_to_response(context)


class CustomerMergeView(WorkspaceMixin, View):
    """Merge another customer into this one (admins and owners); this customer survives."""

    min_role = Role.ADMIN

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = selectors.customer_live_get(workspace=self.workspace, pk=kwargs["pk"])
        back = redirect("identity:customer", ws=self.workspace.slug, pk=customer.pk)
        reference = request.POST.get("other", "").strip()
        if not reference:
            messages.error(request, "Say which customer to merge in: a customer number like #12, or an id.")
            return back
        other = selectors.customer_find_by_reference(workspace=self.workspace, reference=reference)
        if other is None:
            messages.error(request, f"No customer “{reference[:40]}” in this workspace (use #number or id).")
            return back
        other_label = customer_label(other)

        try:
            customers_merge_manual(workspace=self.workspace, survivor=customer, merged=other, actor=_actor(request))
        except ValidationError as exc:
            messages.error(request, f"Not merged: {' '.join(exc.messages)}")
            return back
        customer.refresh_from_db()
        messages.success(request, f"{other_label} was merged into {customer_label(customer)}.")
        return back


class CustomerSplitView(WorkspaceMixin, View):
    """A different person on a shared device: move the device and its events to a new customer."""

    min_role = Role.ADMIN

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = selectors.customer_live_get(workspace=self.workspace, pk=kwargs["pk"])
        back = redirect("identity:customer", ws=self.workspace.slug, pk=customer.pk)
        identifier_text = request.POST.get("identifier", "").strip()
        identifier = None
        if identifier_text.isascii() and identifier_text.isdigit() and len(identifier_text) < 18:
            identifier = Identifier.objects.filter(
                workspace=self.workspace, customer=customer, kind=IdentifierKind.DEVICE, pk=int(identifier_text)
            ).first()
        if identifier is None:
            messages.error(request, "That device is not one of this customer's.")
            return back

        try:
            log = device_split(
                workspace=self.workspace, customer=customer, identifier=identifier, actor=_actor(request)
            )
        except ValidationError as exc:
            messages.error(request, f"Not split: {' '.join(exc.messages)}")
            return back
        moved = len(log.moved.get("event_ids", []))
        messages.success(
            request,
            f"Device {identifier.masked} and its {moved} event{'s' if moved != 1 else ''} now belong to a new "
            f"customer ({customer_label(log.survivor)}).",
        )
        return back


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def live_event_json(event: Event, workspace_slug: str, tz: Any) -> dict[str, Any]:
    text = event_text(event=event.event, source=event.source, properties=event.properties, context=event.context)
    customer = event.customer
    return {
        "id": event.pk,
        "title": text.title,
        "description": text.description,
        "event": event.event,
        "source": event.source,
        "source_label": channel_label(channel_of(source=event.source, event=event.event, properties=event.properties)),
        "rung": event.rung,
        "rung_name": RUNG_NAMES.get(event.rung, "?"),
        "customer": None
        if customer is None
        else {
            "id": customer.pk,
            "label": customer_label(customer),
            "url": reverse("identity:customer", kwargs={"ws": workspace_slug, "pk": customer.pk}),
        },
        "occurred_at": event.occurred_at.isoformat(),
        "received_at": event.received_at.isoformat(),
        "time": date_format(timezone.localtime(event.received_at, tz), "M j, H:i:s"),
        # When it happened, if that is not when it arrived (a replayed or queued event).
        "happened": date_format(timezone.localtime(event.occurred_at, tz), "M j, g:i A")
        if abs((event.received_at - event.occurred_at).total_seconds()) > 60
        else "",
    }


class LiveView(WorkspaceMixin, TemplateView):
    template_name = "identity/live.html"
    extra_context = {"nav": "live"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tz = workspace_zone(self.workspace.timezone)
        events = selectors.live_events(workspace=self.workspace)
        context["events"] = [live_event_json(e, self.workspace.slug, tz) for e in events]
        context["latest_id"] = events[0].pk if events else 0
        context["poll_url"] = reverse("identity:live_events", kwargs={"ws": self.workspace.slug})
        context["has_any"] = bool(events) or selectors.customers_exist(workspace=self.workspace)
        return context


class LiveEventsView(WorkspaceMixin, View):
    """JSON for the live page: events received after `after` (an event id), newest first, at most 50."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        after_text = request.GET.get("after", "").strip()
        after_id = None
        if after_text:
            if not (after_text.isascii() and after_text.isdigit()) or len(after_text) > 18:
                return JsonResponse({"error": "after must be an event id (a whole number)."}, status=400)
            after_id = int(after_text) or None
        tz = workspace_zone(self.workspace.timezone)
        events = selectors.live_events(workspace=self.workspace, after_id=after_id)
        latest = events[0].pk if events else (after_id or 0)
        return JsonResponse({"events": [live_event_json(e, self.workspace.slug, tz) for e in events], "latest": latest})


class InstallTestView(WorkspaceMixin, View):
    """The install page's "Send a test event": one event through the real edge and stitcher, from
    no one (no identifier: no customer is made), so the check above it turns green."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        events_ingest_stitched(
            workspace=self.workspace,
            events=[
                EventInput(
                    event=INSTALL_TEST_EVENT,
                    source=Source.WEB,
                    url=request.build_absolute_uri(reverse("workspaces:install", kwargs={"ws": self.workspace.slug})),
                    properties={"sent_by": "the install page"},
                )
            ],
        )
        messages.success(request, "Test event sent. It is the last event from your site below.")
        return redirect("workspaces:install", ws=self.workspace.slug)


class ApiDocsView(TemplateView):
    """A plain, offline list of the read API (Redoc at /api/docs/ needs its script from a CDN)."""

    template_name = "identity/api_docs.html"
