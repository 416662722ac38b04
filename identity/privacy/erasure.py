"""Erasure: delete everything about a person across all their stitched identifiers.

What goes: the customer and every customer merged into it, their identifiers, events (by customer,
by any of their device hashes, and unstitched events such as bot-flagged ones that carry one of
their identifiers), their events still pending (what a stitcher set aside), visits of their
devices, consent records, conversations and messages (bodies included), every row that points at
any of those (tracked links made for them or for their messages are deleted, never just unlinked),
merge logs naming them, stored raw webhook payloads that mention their email, phone or one of their
messages' provider ids or that produced one of their events, and workspace export files that may
hold them. Audit rows that mention their contact details are redacted. What stays: the hashed
suppression rows of their opt-outs, completed with every identifier they had (so an opt-out
survives re-creation), and the data-subject request itself, which names the subject only by a
keyed hash.
"""

import time
from typing import Any
from urllib.parse import quote

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import Min, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from identity.models import ConsentRecord, Customer, DataSubjectRequest, DsrStatus, IdentifierKind
from identity.privacy.holders import PersonDeletion, holders
from identity.privacy.services import subject_suppressions_complete
from identity.privacy.subjects import Subject, subject_get
from identity.privacy.workspace_exports import export_files_delete
from identity.stitching.partitions import partition_lock
from identity.stitching.stitcher import workspace_stitch
from tracking.botevents import bot_events_of
from tracking.models import DedupeKey, Event, PendingEvent, Visit
from tracking.normalize import claims_from_values
from tracking.visits import visits_cache_forget
from workspaces.models import AuditLog, Workspace
from workspaces.services import audit_log_record

BATCH_SIZE = 5000
# Related rows kept on purpose (they name the subject only by a keyed hash).
KEPT_RELATIONS: frozenset[type[models.Model]] = frozenset({DataSubjectRequest})
# Retention keeps consent records as proof (their customer link cleared: no plain personal data).
RETENTION_KEPT: frozenset[type[models.Model]] = KEPT_RELATIONS | {ConsentRecord}
# Where an unstitched event (bot-flagged, or sent before consent) may carry an identifier.
_IDENTITY_KEYS: dict[str, str] = {
    "email": IdentifierKind.EMAIL,
    "phone": IdentifierKind.PHONE,
    "user_id": IdentifierKind.USER_ID,
    "userId": IdentifierKind.USER_ID,
    "visitor_id": IdentifierKind.DEVICE,
    "anonymousId": IdentifierKind.DEVICE,
    "anonymous_id": IdentifierKind.DEVICE,
}
_CLAIM_ARGUMENT: dict[str, str] = {
    IdentifierKind.EMAIL: "email",
    IdentifierKind.PHONE: "phone",
    IdentifierKind.USER_ID: "user_id",
    IdentifierKind.DEVICE: "device",
}


def _needles(subject: Subject) -> list[str]:
    """Contact values of the person as they may appear in raw provider payloads."""
    values: set[str] = set()
    for customer in Customer.objects.filter(pk__in=subject.group_ids):
        if customer.email:
            values.update({customer.email.lower(), quote(customer.email.lower(), safe="")})
        if customer.phone:
            digits = customer.phone.lstrip("+")
            # "+14155550100", "%2B14155550100" and "14155550100" all contain the digits.
            if len(digits) >= 7:
                values.add(digits)
    return sorted(values)


def _text_match(model: type[models.Model], field_names: list[str], needles: list[str]) -> tuple[dict[str, Any], Q]:
    annotations: dict[str, Any] = {}
    condition = Q()
    for name in field_names:
        field = model._meta.get_field(name)
        target = name
        if isinstance(field, models.JSONField):
            target = f"_privacy_{name}_text"
            annotations[target] = Cast(name, TextField())
        for needle in needles:
            condition |= Q(**{f"{target}__icontains": needle})
    return annotations, condition


def _identity_values(value: Any, found: list[tuple[str, Any]]) -> None:
    """Every (kind, value) pair under a known identity key, at any depth (properties, traits…)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _IDENTITY_KEYS and isinstance(item, str | int) and not isinstance(item, bool):
                found.append((_IDENTITY_KEYS[key], item))
            else:
                _identity_values(item, found)
    elif isinstance(value, list):
        for item in value:
            _identity_values(item, found)


def _unstitched_event_ids(*, workspace: Workspace, subject: Subject, needles: list[str]) -> list[int]:
    """Events with no customer (bot-flagged, or sent before consent) that carry one of the person's
    identifiers: their plain email/phone or an identifier hash anywhere in the JSON (matched in the
    database), or an identity key whose value hashes to one of the person's identifiers (checked
    here, so "(415) 555-0123" or a user id written in any form is found too). Reads each unstitched
    event of the workspace once."""
    hashes = {i.value_hash for i in subject.identifiers}
    unstitched = Event.objects.filter(workspace=workspace, customer__isnull=True)
    texts = [*needles, *hashes]
    ids: set[int] = set()
    if texts:
        annotations, condition = _text_match(Event, ["properties", "context"], texts)
        ids.update(unstitched.annotate(**annotations).filter(condition).values_list("pk", flat=True))
    rows = unstitched.values_list("pk", "properties", "context")
    for pk, properties, context in rows.iterator(chunk_size=BATCH_SIZE):
        found: list[tuple[str, Any]] = []
        _identity_values([properties, context], found)
        for kind, value in found:
            claims = claims_from_values(workspace, **{_CLAIM_ARGUMENT[kind]: value}).claims
            if any(c.value_hash in hashes for c in claims):
                ids.add(pk)
                break
    return sorted(ids)


def _events_delete(*, workspace: Workspace, subject: Subject, needles: list[str], unstitched_too: bool) -> int:
    condition = Q(customer_id__in=subject.group_ids)
    if subject.device_hashes:
        condition |= Q(device_hash__in=subject.device_hashes)
    # Bot-flagged events are never stitched: they are found by the identifiers they carried.
    bots = bot_events_of(workspace_id=workspace.pk, identifiers=[(i.kind, i.value_hash) for i in subject.identifiers])
    condition |= Q(pk__in=list(bots.values_list("pk", flat=True)))
    unstitched = _unstitched_event_ids(workspace=workspace, subject=subject, needles=needles) if unstitched_too else []
    total = 0
    for start in range(0, len(unstitched), BATCH_SIZE):
        total += _events_and_keys_delete(workspace, unstitched[start : start + BATCH_SIZE])
    while True:
        ids = list(
            Event.objects.filter(condition, workspace=workspace)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            return total
        total += _events_and_keys_delete(workspace, ids)


def _events_and_keys_delete(workspace: Workspace, ids: list[int]) -> int:
    """Delete these events and their dedupe keys (a caller's message id can be anything, personal
    data included)."""
    events = Event.objects.filter(pk__in=ids)
    keys = list(events.exclude(message_id=None).values_list("message_id", flat=True))
    if keys:
        DedupeKey.objects.filter(workspace=workspace, key__in=keys).delete()
    _, per_model = events.delete()
    return per_model.get(Event._meta.label, 0)


def _pending_delete(*, workspace: Workspace, subject: Subject, needles: list[str]) -> int:
    """The person's events still pending after the stitch that opens an erasure: those a stitcher set
    aside (CLARM_STITCH_MAX_ATTEMPTS failures). Until stitched a pending event keeps the identifiers
    it carried, plain email and phone included: found by the person's identifier hashes (or plain
    contact values) in its data, deleted with their dedupe keys."""
    texts = [*needles, *(i.value_hash for i in subject.identifiers)]
    if not texts:
        return 0
    annotations, condition = _text_match(PendingEvent, ["data"], texts)
    rows = list(
        PendingEvent.objects.filter(workspace=workspace).annotate(**annotations).filter(condition).values("pk", "data")
    )
    keys = [row["data"].get("message_id") for row in rows if isinstance(row["data"], dict)]
    keys = [k for k in keys if k]
    for start in range(0, len(keys), BATCH_SIZE):
        DedupeKey.objects.filter(workspace=workspace, key__in=keys[start : start + BATCH_SIZE]).delete()
    ids = [row["pk"] for row in rows]
    deleted = 0
    for start in range(0, len(ids), BATCH_SIZE):
        deleted += PendingEvent.objects.filter(pk__in=ids[start : start + BATCH_SIZE]).delete()[0]
    return deleted


def _reverse_relations(model: type[models.Model]) -> list[Any]:
    """Every foreign key pointing at `model`, hidden ones (`related_name="+"`) included, which
    `_meta.related_objects` leaves out."""
    return [f for f in model._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete]


def _dependents_delete(
    model: type[models.Model], rows: QuerySet, counts: dict[str, int], kept: frozenset[type[models.Model]]
) -> None:
    """Delete the rows that point at `rows` through a nullable foreign key (SET_NULL), at any depth
    of the cascade, before `rows` go: a row whose link would only be cleared still holds the rest
    (a tracked link made for one of the person's messages, its target and UTM tags)."""
    for relation in _reverse_relations(model):
        child = relation.related_model
        if not (isinstance(child, type) and issubclass(child, models.Model)) or child is model or child in kept:
            continue
        if getattr(relation, "on_delete", None) not in (models.CASCADE, models.SET_NULL):
            continue
        children = child._default_manager.filter(**{f"{relation.field.name}__in": rows.values("pk")})
        _dependents_delete(child, children, counts, kept)
        if relation.on_delete is models.SET_NULL:
            for label, n in children.delete()[1].items():
                counts[label] = counts.get(label, 0) + n


def _related_rows_delete(*, subject: Subject, kept: frozenset[type[models.Model]]) -> dict[str, int]:
    """Every row that points at the person's customers (messages, conversations, tracked links, …),
    directly or through one of those rows, is deleted, not just unlinked (`kept` models excepted:
    their link to the customer is cleared)."""
    counts: dict[str, int] = {}
    group = Customer.objects.filter(pk__in=subject.group_ids)
    _dependents_delete(Customer, group, counts, kept)
    for relation in _reverse_relations(Customer):
        model = relation.related_model
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            continue
        if model is Customer or model in kept or model is Event:
            continue
        if relation.on_delete is models.SET_NULL:
            continue  # already deleted above
        _, per_model = model._default_manager.filter(**{f"{relation.field.name}__in": subject.group_ids}).delete()
        for label, n in per_model.items():
            counts[label] = counts.get(label, 0) + n
    return counts


def _first_trace(subject: Subject) -> Any:
    """The earliest moment the person could appear in a workspace export."""
    span = Customer.objects.filter(pk__in=subject.group_ids).aggregate(
        created=Min("created_at"), first=Min("first_seen")
    )
    return min(v for v in span.values() if v is not None)


# Audit `details` keys whose value is a customer id (merges, splits and their undo).
AUDIT_CUSTOMER_KEYS = ("customer_id", "merged_customer_id", "new_customer_id", "survivor_id", "merged_id")


def _audit_redact(*, workspace: Workspace, subject: Subject, needles: list[str]) -> int:
    """Audit rows that mention the person's contact details or name, or point at one of their
    customers (`customer:<id>` targets, customer ids in details), keep their action and time only."""
    values = [v for v in needles if v]
    for customer in Customer.objects.filter(pk__in=subject.group_ids):
        if customer.name and len(customer.name) >= 3:
            values.append(customer.name)
    condition = Q(target__in=[f"customer:{pk}" for pk in subject.group_ids])
    for key in AUDIT_CUSTOMER_KEYS:
        condition |= Q(**{f"details__{key}__in": subject.group_ids})
    annotations: dict[str, Any] = {}
    if values:
        annotations, matches = _text_match(AuditLog, ["target", "details"], values)
        condition |= matches
    return (
        AuditLog.objects.filter(workspace=workspace)
        .annotate(**annotations)
        .filter(condition)
        .update(target="[erased]", details={"redacted": "personal data erased"})
    )


def subject_delete(*, subject: Subject, erasure: bool) -> dict[str, int]:
    """Delete the person: what an erasure and a retention purge share. Call inside a transaction.
    `erasure` also deletes their consent records, searches every unstitched event of the workspace
    for their identifiers and deletes export files that may hold them; retention keeps consent
    records as proof (unlinked) and lets unstitched events and export files age out on their own."""
    workspace = subject.workspace
    list(Customer.objects.select_for_update().filter(pk__in=subject.group_ids).order_by("pk"))
    needles = _needles(subject)
    device_hashes = subject.device_hashes
    # What the apps above identity keep about the person (raw payloads, messages) is reached through
    # their holders: each notes what it needs now and deletes its part after identity's own rows.
    deletion = PersonDeletion(workspace=workspace, customer_ids=subject.group_ids, erasure=erasure, needles=needles)
    steps = [step for holder in holders() if holder.person_collect and (step := holder.person_collect(deletion))]
    first_trace = _first_trace(subject)

    outcome: dict[str, int] = {"customers": len(subject.group_ids), "identifiers": len(subject.identifiers)}
    outcome["suppressed_identifiers"] = subject_suppressions_complete(subject=subject)
    outcome["events"] = _events_delete(workspace=workspace, subject=subject, needles=needles, unstitched_too=erasure)
    if erasure:
        outcome["pending_events"] = _pending_delete(workspace=workspace, subject=subject, needles=needles)
    outcome["visits"] = (
        Visit.objects.filter(workspace=workspace, device_hash__in=device_hashes).delete()[0] if device_hashes else 0
    )
    if erasure:
        consent = Q(customer_id__in=subject.group_ids)
        if device_hashes:
            consent |= Q(device_hash__in=device_hashes)
        outcome["consent_records"] = ConsentRecord.objects.filter(consent, workspace=workspace).delete()[0]
    for step in steps:
        outcome.update(step())
    related = _related_rows_delete(subject=subject, kept=KEPT_RELATIONS if erasure else RETENTION_KEPT)
    for holder in holders():
        outcome.update({name: related.get(label, 0) for name, label in holder.deleted_counts.items()})
    outcome["related_rows"] = sum(related.values())
    outcome["audit_rows_redacted"] = _audit_redact(workspace=workspace, subject=subject, needles=needles)
    DataSubjectRequest.objects.filter(workspace=workspace, customer_id__in=subject.group_ids).update(customer=None)
    ConsentRecord.objects.filter(workspace=workspace, customer_id__in=subject.group_ids).update(customer=None)
    # Merged customers point at the survivor; clear those links before deleting the group.
    Customer.objects.filter(pk__in=subject.group_ids).update(merged_into=None)
    Customer.objects.filter(pk__in=subject.group_ids).delete()
    if erasure:
        outcome["export_files"] = export_files_delete(workspace=workspace, since=first_trace)
    # Cached visit state of the person's devices (Redis) goes too, after the rows are gone.
    hashes = list(device_hashes)
    transaction.on_commit(lambda: visits_cache_forget(workspace.pk, hashes))
    return outcome


def subject_erase(
    *,
    workspace: Workspace,
    customer: Customer,
    request: DataSubjectRequest | None = None,
    actor: User | None = None,
) -> dict[str, int]:
    """Erase the person `customer` belongs to. Returns non-personal counts of what was deleted."""
    started = time.monotonic()
    with transaction.atomic():
        # No batch of the workspace runs meanwhile, and what the person sent that is still pending
        # is stored first, so it is erased with the rest.
        partition_lock(workspace.pk)
        workspace_stitch(workspace.pk)
        subject = subject_get(workspace=workspace, customer=customer)
        ref = subject.ref
        outcome = subject_delete(subject=subject, erasure=True)
        outcome["duration_ms"] = int((time.monotonic() - started) * 1000)
        if request is not None:
            DataSubjectRequest.objects.filter(pk=request.pk).update(
                status=DsrStatus.COMPLETED, completed_at=timezone.now(), customer=None, outcome=outcome
            )
        audit_log_record(
            workspace=workspace,
            actor=actor,
            action="privacy.dsr_erasure_completed",
            target=ref,
            details={"request": request.pk if request is not None else None, "deleted": outcome},
        )
    return outcome


text_match = _text_match  # public: holders above identity match raw payloads with it
