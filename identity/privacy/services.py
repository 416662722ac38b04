"""Writes of the privacy area: preferences and opt-out propagation, consent records, data-subject
requests. Each is atomic and audited without personal data (the subject is a keyed hash)."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from identity.models import (
    ConsentChoice,
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    Customer,
    DataSubjectRequest,
    DsrKind,
    DsrStatus,
    DsrVia,
    IdentifierKind,
    Suppression,
)
from identity.privacy.holders import holders
from identity.privacy.hooks import preferences_changed_announce
from identity.privacy.subjects import Subject, customer_group_ids, customer_live, subject_get, subject_ref
from identity.stitching.partitions import partition_lock
from tracking.models import Event
from tracking.purposes import CONSENT_EVENT_CHOICES
from workspaces.models import Workspace
from workspaces.services import audit_log_record

# Preference name → Customer field (True = allowed) and Suppression field (True = opted out).
PURPOSE_FIELDS: dict[str, tuple[str, str]] = {
    ConsentPurpose.ANALYTICS: ("allow_analytics", "analytics"),
    ConsentPurpose.MARKETING_EMAIL: ("allow_marketing_email", "marketing_email"),
    ConsentPurpose.MARKETING_SMS: ("allow_marketing_sms", "marketing_sms"),
    ConsentPurpose.AD_SENDBACK: ("allow_ad_sendback", "ad_sendback"),
}
PURPOSES = tuple(PURPOSE_FIELDS)
SUPPRESSION_FLAGS = tuple(flag for _, flag in PURPOSE_FIELDS.values())

CONSENT_EVENTS = CONSENT_EVENT_CHOICES
PREFERENCE_TEXTS: dict[str, str] = {
    ConsentPurpose.ANALYTICS: "Analytics tracking of my visits and messages",
    ConsentPurpose.MARKETING_EMAIL: "Marketing email",
    ConsentPurpose.MARKETING_SMS: "Marketing SMS and WhatsApp messages",
    ConsentPurpose.AD_SENDBACK: "Sending my conversions back to advertising platforms",
}


class PrivacyInputError(ValueError):
    """Input a person can fix; the message says what is wrong."""


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def _changes_clean(changes: dict[str, Any]) -> dict[str, bool]:
    unknown = sorted(set(changes) - set(PURPOSES))
    if unknown:
        raise PrivacyInputError(f"Unknown preference: {', '.join(unknown)}. Known: {', '.join(PURPOSES)}.")
    out: dict[str, bool] = {}
    for key, value in changes.items():
        if not isinstance(value, bool):
            raise PrivacyInputError(f"Preference {key} must be true or false.")
        out[key] = value
    return out


# --- preferences and opt-out propagation ------------------------------------------------------------


@dataclass
class PreferencesResult:
    changed: dict[str, bool]
    suppressed_identifiers: int
    messages_cancelled: int


def _suppressions_write(*, workspace: Workspace, pairs: list[tuple[str, str]], opted_out: dict[str, bool]) -> int:
    """Make the suppression rows of these (kind, hash) pairs say exactly `opted_out` (flag → bool);
    rows that opt out of nothing are removed. Returns the number of rows that now suppress something."""
    if not pairs:
        return 0
    if not any(opted_out.values()):
        for kind in {k for k, _ in pairs}:
            hashes = [h for k, h in pairs if k == kind]
            Suppression.objects.filter(workspace=workspace, kind=kind, value_hash__in=hashes).delete()
        return 0
    rows = [
        Suppression(workspace=workspace, kind=kind, value_hash=value_hash, **opted_out) for kind, value_hash in pairs
    ]
    Suppression.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["workspace", "kind", "value_hash"],
        update_fields=list(opted_out),
    )
    return len(rows)


@transaction.atomic
def preferences_update(
    *,
    workspace: Workspace,
    customer: Customer,
    changes: dict[str, Any],
    source: str,
    actor: User | None = None,
    text: str = "",
    version: str = "",
) -> PreferencesResult:
    """Set the customer's preferences (`{"analytics": False, ...}`, True = allowed).

    Applies to the live customer and every customer merged into it (stitching reads
    `Customer.allow_analytics`, so later events are suppressed as soon as this commits), mirrors the
    resulting opt-outs onto the hashed suppression list for every identifier of the person (so the
    opt-out survives erasure and re-creation), cancels queued marketing messages of opted-out
    channels, and records a consent record per changed purpose and one audit row."""
    if customer.workspace_id != workspace.pk:
        raise PrivacyInputError("That customer is not in this workspace.")
    cleaned = _changes_clean(changes)
    # The workspace's stitch partition first, as merge, split, undo and erasure take it: a batch holds
    # it and its customers (live ones, locked by its lookup) when it applies an opt-out event, which
    # lands here; locking the person's customers in key order without it (a merged one of a lower key
    # first) deadlocked against such a batch. Re-entrant: inside that batch it is already held.
    partition_lock(workspace.pk)
    live = customer_live(customer)
    # Lock the person's rows so concurrent changes (and merges, which lock in pk order) serialize.
    group = customer_group_ids(workspace=workspace, customer=live)
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=group).order_by("pk")}
    live = locked[live.pk]
    subject = subject_get(workspace=workspace, customer=live)

    changed = {p: v for p, v in cleaned.items() if getattr(live, PURPOSE_FIELDS[p][0]) != v}
    if changed:
        updates = {PURPOSE_FIELDS[p][0]: v for p, v in changed.items()}
        Customer.objects.filter(pk__in=subject.group_ids).update(**updates)
        for field_name, value in updates.items():
            setattr(live, field_name, value)

    opted_out = {flag: not getattr(live, allow) for allow, flag in PURPOSE_FIELDS.values()}
    pairs = [(i.kind, i.value_hash) for i in subject.identifiers]
    suppressed = _suppressions_write(workspace=workspace, pairs=pairs, opted_out=opted_out)

    refused = [p for p, allowed in cleaned.items() if not allowed]
    # Queued marketing messages of the refused channels are cancelled by their holder (agents).
    cancelled = sum(h.marketing_cancel(workspace, subject.group_ids, refused) for h in holders() if h.marketing_cancel)
    now = timezone.now()
    for purpose, allowed in changed.items():
        shown = text or PREFERENCE_TEXTS[purpose]
        ConsentRecord.objects.create(
            workspace=workspace,
            customer=live,
            purpose=purpose,
            choice=ConsentChoice.GRANTED if allowed else ConsentChoice.WITHDRAWN,
            version=version[:64],
            text=shown,
            text_hash=_text_hash(shown),
            source=source,
            created_at=now,
        )
    if changed:
        # After commit: destinations push the opt-outs to CRMs and stop ad send-back.
        group = [live.pk, *(pk for pk in subject.group_ids if pk != live.pk)]
        preferences_changed_announce(workspace.pk, group, changed)
    if changed or cancelled:
        audit_log_record(
            workspace=workspace,
            actor=actor,
            action="privacy.preferences_updated",
            target=subject.ref,
            details={"changes": changed, "source": source, "messages_cancelled": cancelled},
        )
    return PreferencesResult(changed=changed, suppressed_identifiers=suppressed, messages_cancelled=cancelled)


def subject_suppressions_complete(*, subject: Subject) -> int:
    """Before an erasure: every identifier the person has now (devices linked after an opt-out
    included) gets the person's opt-outs on the hashed suppression list, so they outlive the erasure.
    The opt-outs are those of any of the person's customers and any suppression row already held
    for one of their identifiers (the most restrictive wins). Returns the rows written."""
    workspace = subject.workspace
    customers = list(Customer.objects.filter(pk__in=subject.group_ids))
    pairs = [(i.kind, i.value_hash) for i in subject.identifiers]
    opted_out = {flag: any(not getattr(c, allow) for c in customers) for allow, flag in PURPOSE_FIELDS.values()}
    held = Suppression.objects.filter(
        workspace=workspace, kind__in={k for k, _ in pairs}, value_hash__in={h for _, h in pairs}
    )
    for row in held:
        if (row.kind, row.value_hash) in set(pairs):
            for flag in SUPPRESSION_FLAGS:
                opted_out[flag] = opted_out[flag] or getattr(row, flag)
    if not any(opted_out.values()):
        return 0
    return _suppressions_write(workspace=workspace, pairs=pairs, opted_out=opted_out)


def opt_out_everything() -> dict[str, bool]:
    return dict.fromkeys(PURPOSES, False)


@transaction.atomic
def device_preferences_update(
    *, workspace: Workspace, device_hash: str, changes: dict[str, Any], source: str
) -> dict[str, bool]:
    """Preferences of a device no customer owns yet: kept on the suppression list only, which
    stitching checks when the device (or anything linked to it) shows up."""
    cleaned = _changes_clean(changes)
    current = device_preferences_get(workspace=workspace, device_hash=device_hash)
    current.update(cleaned)
    opted_out = {PURPOSE_FIELDS[p][1]: not allowed for p, allowed in current.items()}
    _suppressions_write(workspace=workspace, pairs=[(IdentifierKind.DEVICE, device_hash)], opted_out=opted_out)
    for purpose, allowed in cleaned.items():
        shown = PREFERENCE_TEXTS[purpose]
        ConsentRecord.objects.create(
            workspace=workspace,
            device_hash=device_hash,
            purpose=purpose,
            choice=ConsentChoice.GRANTED if allowed else ConsentChoice.WITHDRAWN,
            text=shown,
            text_hash=_text_hash(shown),
            source=source,
        )
    audit_log_record(
        workspace=workspace,
        actor=None,
        action="privacy.device_preferences_updated",
        target=hashlib.sha256(device_hash.encode()).hexdigest(),
        details={"changes": cleaned, "source": source},
    )
    return current


def device_preferences_get(*, workspace: Workspace, device_hash: str) -> dict[str, bool]:
    row = Suppression.objects.filter(workspace=workspace, kind=IdentifierKind.DEVICE, value_hash=device_hash).first()
    return {p: not (row is not None and getattr(row, flag)) for p, (_, flag) in PURPOSE_FIELDS.items()}


# --- consent records from consent events ----------------------------------------------------------


def consent_record_from_event(*, workspace: Workspace, event: Event) -> ConsentRecord | None:
    """Record the consent choice a `consent_given|denied|withdrawn` or `opted_out` event carries
    (properties {choice, version, text or the snippet's banner_text}). Idempotent: one record per
    event (a database constraint).

    A denial or withdrawal by a known customer also opts them out of analytics and ad send-back
    (their later events are then suppressed). A grant only records the choice: it never undoes an
    opt-out made on the preferences page, which only that page (or the workspace) can undo."""
    choice = CONSENT_EVENTS.get(event.event)
    if choice is None or event.workspace_id != workspace.pk:
        return None
    props = event.properties if isinstance(event.properties, dict) else {}
    text = str(props.get("text") or props.get("banner_text") or "")[:5000]
    with transaction.atomic():
        record, created = ConsentRecord.objects.get_or_create(
            workspace=workspace,
            source_event_id=event.pk,
            defaults={
                "customer_id": event.customer_id,
                "device_hash": event.device_hash or "",
                "purpose": ConsentPurpose.ANALYTICS,
                "choice": choice,
                "version": str(props.get("version") or "")[:64],
                "text": text,
                "text_hash": _text_hash(text),
                "source": ConsentSource.BANNER
                if event.source == "web" and props.get("via") != "api"
                else ConsentSource.API,
                "created_at": event.occurred_at or timezone.now(),
            },
        )
        if created and choice != ConsentChoice.GRANTED:
            optout: dict[str, Any] = {ConsentPurpose.ANALYTICS: False, ConsentPurpose.AD_SENDBACK: False}
            if event.customer_id:
                customer = Customer.objects.get(pk=event.customer_id)
                preferences_update(
                    workspace=workspace,
                    customer=customer,
                    changes=optout,
                    source=ConsentSource.BANNER,
                    text=text,
                    version=record.version,
                )
            elif event.device_hash:
                device_preferences_update(
                    workspace=workspace, device_hash=event.device_hash, changes=optout, source=ConsentSource.BANNER
                )
    return record


# --- data-subject requests ------------------------------------------------------------------------


@transaction.atomic
def dsr_create(
    *,
    workspace: Workspace,
    customer: Customer,
    kind: str,
    via: str,
    actor: User | None = None,
) -> DataSubjectRequest:
    """Open an export or erasure request. From the workspace (a member acting) it is verified at
    once; from the preferences page it waits for the email verification link."""
    if kind not in DsrKind.values:
        raise PrivacyInputError("A request is an export or an erasure.")
    if via not in DsrVia.values:
        raise PrivacyInputError("Unknown request channel.")
    if customer.workspace_id != workspace.pk:
        raise PrivacyInputError("That customer is not in this workspace.")
    live = customer_live(customer)
    now = timezone.now()
    verified = via == DsrVia.WORKSPACE
    request = DataSubjectRequest.objects.create(
        workspace=workspace,
        customer=live,
        subject_ref=subject_ref(workspace, live.pk),
        kind=kind,
        requested_via=via,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        requested_at=now,
        due_at=now + timedelta(days=DataSubjectRequest.DUE_DAYS),
        status=DsrStatus.VERIFIED if verified else DsrStatus.REQUESTED,
        verified_at=now if verified else None,
    )
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action=f"privacy.dsr_{kind}_requested",
        target=request.subject_ref,
        details={"request": request.pk, "via": via, "due_at": request.due_at.isoformat()},
    )
    return request


@transaction.atomic
def dsr_verify(*, workspace: Workspace, request: DataSubjectRequest) -> DataSubjectRequest:
    """The subject followed the emailed link. Idempotent."""
    request = DataSubjectRequest.objects.select_for_update().get(pk=request.pk, workspace=workspace)
    if request.status == DsrStatus.REQUESTED:
        request.status = DsrStatus.VERIFIED
        request.verified_at = timezone.now()
        request.save(update_fields=["status", "verified_at"])
        audit_log_record(
            workspace=workspace,
            actor=None,
            action=f"privacy.dsr_{request.kind}_verified",
            target=request.subject_ref,
            details={"request": request.pk},
        )
    return request


def consent_records_resume(*, older_than_minutes: int = 10, window_hours: int = 48, limit: int = 1000) -> int:
    """The sweep for consent events whose after-commit task was never sent (the broker was down):
    records those received between `window_hours` ago and `older_than_minutes` ago that have no
    record yet. Returns how many it recorded. Runs every 10 minutes from beat, so a consent event
    stored during a broker outage is recorded within about 20 minutes of the broker coming back;
    an outage longer than the window needs `consent_records_resume(window_hours=...)` by hand."""
    now = timezone.now()
    recorded = ConsentRecord.objects.filter(workspace_id=OuterRef("workspace_id"), source_event_id=OuterRef("pk"))
    pending = (
        Event.objects.filter(
            event__in=list(CONSENT_EVENTS),
            received_at__gte=now - timedelta(hours=window_hours),
            received_at__lt=now - timedelta(minutes=older_than_minutes),
        )
        .exclude(Exists(recorded))
        .select_related("workspace")
        .order_by("received_at", "pk")[:limit]
    )
    return sum(consent_record_from_event(workspace=event.workspace, event=event) is not None for event in pending)


# A self-serve export can be downloaded once, within this long after the email check.
DSR_DOWNLOAD_WINDOW = timedelta(hours=24)


def dsr_download_open(request: DataSubjectRequest, *, now: Any = None) -> bool:
    """Whether the self-serve download is still there to take: verified (the emailed link was
    opened), not taken yet, and within `DSR_DOWNLOAD_WINDOW` of the verification."""
    now = now or timezone.now()
    return (
        request.status == DsrStatus.VERIFIED
        and request.verified_at is not None
        and request.verified_at >= now - DSR_DOWNLOAD_WINDOW
    )


def dsr_download_claim(*, workspace: Workspace, request: DataSubjectRequest) -> bool:
    """Take the one self-serve download (atomically: of two concurrent clicks one wins). False when
    it was taken already, has expired, or the request was never verified."""
    now = timezone.now()
    taken = DataSubjectRequest.objects.filter(
        pk=request.pk,
        workspace=workspace,
        kind=DsrKind.EXPORT,
        status=DsrStatus.VERIFIED,
        verified_at__gte=now - DSR_DOWNLOAD_WINDOW,
    ).update(status=DsrStatus.IN_PROGRESS)
    if taken:
        audit_log_record(
            workspace=workspace,
            actor=None,
            action="privacy.dsr_export_started",
            target=request.subject_ref,
            details={"request": request.pk},
        )
    return bool(taken)


def dsr_export_mark(
    *, workspace: Workspace, request: DataSubjectRequest, done: bool, actor: User | None = None
) -> None:
    """Record that an export download started (in progress) or finished (completed)."""
    now = timezone.now()
    status = DsrStatus.COMPLETED if done else DsrStatus.IN_PROGRESS
    qs = DataSubjectRequest.objects.filter(pk=request.pk, workspace=workspace)
    if done:
        updated = qs.exclude(status=DsrStatus.COMPLETED).update(status=status, completed_at=now)
    else:
        updated = qs.filter(status=DsrStatus.VERIFIED).update(status=status)
    if updated:
        audit_log_record(
            workspace=workspace,
            actor=actor,
            action="privacy.dsr_export_completed" if done else "privacy.dsr_export_started",
            target=request.subject_ref,
            details={"request": request.pk},
        )


def subject_for_request(*, request: DataSubjectRequest) -> Subject | None:
    if request.customer is None:
        return None
    return subject_get(workspace=request.workspace, customer=request.customer)
