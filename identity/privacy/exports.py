"""What an export holds: one person's data (a data-subject access request) and a whole workspace's,
as zip entries written in bounded memory by identity.privacy.zipentries. What apps above identity
keep about people (messages) comes from their registered holders (identity.privacy.holders)."""

from collections.abc import Iterator

from identity.models import ConsentRecord, Customer, Identifier
from identity.privacy.holders import holders
from identity.privacy.subjects import Subject
from identity.privacy.zipentries import Entry, _csv_safe, query_entry, zip_stream
from tracking.models import Event

EVENT_FIELDS = [
    "id",
    "event",
    "source",
    "occurred_at",
    "received_at",
    "rung",
    "session_id",
    "message_id",
    "properties",
    "context",
]
CUSTOMER_FIELDS = [
    "id",
    "customer_number",
    "status",
    "merged_into_id",
    "rung",
    "name",
    "company",
    "email",
    "phone",
    "traits",
    "first_seen",
    "last_seen",
    "allow_analytics",
    "allow_marketing_email",
    "allow_marketing_sms",
    "allow_ad_sendback",
    "created_at",
    "company_profile",
    "person_profile",
    "intent_score",
    "intent",
]
IDENTIFIER_FIELDS = ["kind", "masked", "visit_count", "created_at"]
CONSENT_FIELDS = ["purpose", "choice", "version", "text", "text_hash", "source", "created_at"]


# --- one person -----------------------------------------------------------------------------------


def subject_entries(subject: Subject, fmt: str) -> list[Entry]:
    """The person's profile, identifiers (masked, with kinds), every event, every message and every
    consent record, as `fmt` (csv or json) entries."""
    ws = subject.workspace
    group = subject.group_ids
    events = Event.objects.filter(workspace=ws, customer_id__in=group).order_by("occurred_at", "id")
    profile = Customer.objects.filter(workspace=ws, pk__in=group).order_by("pk")
    identifiers = Identifier.objects.filter(workspace=ws, customer_id__in=group).order_by("kind", "id")
    consent = ConsentRecord.objects.filter(workspace=ws, customer_id__in=group).order_by("created_at", "id")
    return [
        query_entry("profile", fmt, profile, CUSTOMER_FIELDS),
        query_entry("identifiers", fmt, identifiers, IDENTIFIER_FIELDS),
        query_entry("events", fmt, events, EVENT_FIELDS),
        *(e for h in holders() if h.person_entries for e in h.person_entries(ws, group, fmt)),
        query_entry("consent_records", fmt, consent, CONSENT_FIELDS),
    ]


def subject_export_stream(subject: Subject, fmt: str) -> Iterator[bytes]:
    return zip_stream(subject_entries(subject, fmt))


# --- a whole workspace ----------------------------------------------------------------------------


def workspace_entries(workspace_id: int, fmt: str) -> list[Entry]:
    events = Event.objects.filter(workspace_id=workspace_id).order_by("id")
    customers = Customer.objects.filter(workspace_id=workspace_id).order_by("id")
    event_fields = [*EVENT_FIELDS, "customer_id", "is_bot"]
    return [
        query_entry("customers", fmt, customers, CUSTOMER_FIELDS),
        query_entry("events", fmt, events, event_fields),
        *(e for h in holders() if h.workspace_entries for e in h.workspace_entries(workspace_id, fmt)),
    ]


def workspace_rows_total(workspace_id: int) -> int:
    return (
        Event.objects.filter(workspace_id=workspace_id).count()
        + Customer.objects.filter(workspace_id=workspace_id).count()
        + sum(h.workspace_rows(workspace_id) for h in holders() if h.workspace_rows)
    )


csv_safe = _csv_safe  # public: the customers list's CSV export uses the same guard
