"""Reads of the privacy area. The workspace is always a required argument; "not yours" and "not
there" look the same (None / Http404)."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, QuerySet
from django.http import Http404
from django.utils import timezone

from identity.models import (
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    ExportJob,
    Identifier,
    IdentifierKind,
    RetentionRun,
)
from identity.privacy.services import PURPOSE_FIELDS
from identity.privacy.subjects import Subject, customer_live, subject_get
from tracking.models import Event
from tracking.normalize import claims_from_values, email_normalize, phone_normalize
from workspaces.models import Workspace


def customer_by_device(*, workspace: Workspace, visitor_id: str) -> tuple[str | None, Customer | None]:
    """(device hash, live customer owning it) for a visitor id; (None, None) for a junk id."""
    claims = claims_from_values(workspace, device=visitor_id).of_kind(IdentifierKind.DEVICE)
    if not claims:
        return None, None
    device_hash = claims[0].value_hash
    identifier = (
        Identifier.objects.select_related("customer")
        .filter(workspace=workspace, kind=IdentifierKind.DEVICE, value_hash=device_hash)
        .first()
    )
    return device_hash, customer_live(identifier.customer) if identifier else None


def customer_get(*, workspace: Workspace, customer_id: int) -> Customer:
    customer = Customer.objects.filter(workspace=workspace, pk=customer_id).first()
    if customer is None:
        raise Http404("No such customer.")
    return customer_live(customer)


def customer_lookup(*, workspace: Workspace, query: str) -> Customer | None:
    """A customer by number ("#12" or "12"), email or phone, within the workspace."""
    text = (query or "").strip()
    if not text or "\x00" in text:  # PostgreSQL text cannot hold NUL: nobody matches it
        return None
    number = re.fullmatch(r"#?\s*(\d{1,9})", text)
    if number:
        found = Customer.objects.filter(workspace=workspace, customer_number=int(number.group(1))).first()
        return customer_live(found) if found else None
    email = email_normalize(text) if "@" in text else None
    phone = None if email else phone_normalize(text, default_country=workspace.default_country)
    if not email and not phone:
        return None
    claims = claims_from_values(workspace, email=email, phone=phone).claims
    if not claims:
        return None
    identifier = (
        Identifier.objects.select_related("customer")
        .filter(workspace=workspace, kind=claims[0].kind, value_hash=claims[0].value_hash)
        .first()
    )
    if identifier is not None:
        return customer_live(identifier.customer)
    same = Customer.objects.filter(workspace=workspace)
    found = (same.filter(email=email) if email else same.filter(phone=phone or "")).order_by("pk").first()
    return customer_live(found) if found else None


@dataclass
class SubjectSummary:
    subject: Subject
    identifiers: list[tuple[str, str]]
    events_by_source: list[tuple[str, int]]
    events_total: int
    first_seen: datetime | None
    last_seen: datetime | None
    preferences: dict[str, bool] = field(default_factory=dict)


def subject_summary(*, workspace: Workspace, customer: Customer) -> SubjectSummary:
    """What is recorded about a person, as shown to them: masked identifiers with their kinds,
    event counts per source, first and last seen, and their current preferences."""
    subject = subject_get(workspace=workspace, customer=customer)
    counts = list(
        Event.objects.filter(workspace=workspace, customer_id__in=subject.group_ids)
        .values("source")
        .annotate(n=Count("id"))
        .order_by("-n", "source")
    )
    span = Event.objects.filter(workspace=workspace, customer_id__in=subject.group_ids).aggregate(
        first=Min("occurred_at"), last=Max("occurred_at")
    )
    live = subject.customer
    first = min(x for x in (span["first"], live.first_seen) if x is not None)
    last = max(x for x in (span["last"], live.last_seen) if x is not None)
    kinds = dict(IdentifierKind.choices)
    return SubjectSummary(
        subject=subject,
        identifiers=[(str(kinds.get(i.kind, i.kind)), i.masked or "(hidden)") for i in subject.identifiers],
        events_by_source=[(row["source"], row["n"]) for row in counts],
        events_total=sum(row["n"] for row in counts),
        first_seen=first,
        last_seen=last,
        preferences={p: getattr(live, allow) for p, (allow, _) in PURPOSE_FIELDS.items()},
    )


@dataclass
class DeviceSummary:
    events_by_source: list[tuple[str, int]]
    events_total: int
    first_seen: datetime | None
    last_seen: datetime | None


def device_summary(*, workspace: Workspace, device_hash: str) -> DeviceSummary:
    """What is recorded from one device, as shown on the device's own preferences link: counts and
    times only. A visitor id proves the device, not the person, so nothing of the person is shown."""
    events = Event.objects.filter(workspace=workspace, device_hash=device_hash)
    counts = list(events.values("source").annotate(n=Count("id")).order_by("-n", "source"))
    span = events.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    return DeviceSummary(
        events_by_source=[(row["source"], row["n"]) for row in counts],
        events_total=sum(row["n"] for row in counts),
        first_seen=span["first"],
        last_seen=span["last"],
    )


def dsr_list(*, workspace: Workspace) -> QuerySet[DataSubjectRequest]:
    return DataSubjectRequest.objects.filter(workspace=workspace).select_related("customer").order_by("-requested_at")


def dsr_get(*, workspace: Workspace, request_id: int) -> DataSubjectRequest:
    request = DataSubjectRequest.objects.filter(workspace=workspace, pk=request_id).select_related("customer").first()
    if request is None:
        raise Http404("No such request.")
    return request


def export_jobs_list(*, workspace: Workspace) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(workspace=workspace).select_related("requested_by").order_by("-created_at")[:20]


def export_job_get(*, workspace: Workspace, job_id: int) -> ExportJob:
    job = ExportJob.objects.filter(workspace=workspace, pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    return job


def retention_last_run(*, workspace: Workspace) -> RetentionRun | None:
    return RetentionRun.objects.filter(workspace=workspace).order_by("-ran_at", "-id").first()


def consent_summary(*, workspace: Workspace, days: int = 30) -> dict[str, int]:
    """Banner choices recorded in the last `days` days, by choice."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        ConsentRecord.objects.filter(workspace=workspace, created_at__gte=since)
        .values("choice")
        .annotate(n=Count("id"))
    )
    return {row["choice"]: row["n"] for row in rows}
