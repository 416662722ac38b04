"""Erasure: delete everything about a person across all their stitched identifiers.

What goes: the customer and every customer merged into it, their identifiers, events (by customer
and by any of their device hashes), visits of their devices, consent records, conversations and
messages (bodies included), tracked links made for them, merge logs naming them, and stored raw
webhook payloads that mention their email or phone (matched in the body/headers, plain or
URL-encoded) or that are linked to their events. Audit rows that mention their contact details are
redacted. What stays: the hashed suppression rows of their opt-outs (so an opt-out survives
re-creation) and the data-subject request itself, which names the subject only by a keyed hash.
"""

import time
from typing import Any
from urllib.parse import quote

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from identity.models import ConsentRecord, Customer, DataSubjectRequest, DsrStatus
from identity.privacy.subjects import Subject, subject_get
from integrations.destinations.services import destination_erasures_queue
from integrations.models import WebhookDelivery
from tracking.models import Event, Visit
from tracking.visits import visits_cache_forget
from workspaces.models import AuditLog, Workspace
from workspaces.services import audit_log_record

BATCH_SIZE = 5000
# Related rows kept on purpose (they name the subject only by a keyed hash).
KEPT_RELATIONS = {DataSubjectRequest}


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


def _payloads_delete(*, workspace: Workspace, needles: list[str]) -> int:
    if not needles:
        return 0
    annotations, condition = _text_match(WebhookDelivery, ["body", "headers", "last_error"], needles)
    ids = list(
        WebhookDelivery.objects.filter(workspace=workspace)
        .annotate(**annotations)
        .filter(condition)
        .values_list("pk", flat=True)
    )
    deleted, _ = WebhookDelivery.objects.filter(pk__in=ids).delete()
    return deleted


def _events_delete(*, workspace: Workspace, subject: Subject) -> int:
    condition = Q(customer_id__in=subject.group_ids)
    if subject.device_hashes:
        condition |= Q(device_hash__in=subject.device_hashes)
    total = 0
    while True:
        ids = list(
            Event.objects.filter(condition, workspace=workspace)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            return total
        _, per_model = Event.objects.filter(pk__in=ids).delete()
        total += per_model.get(Event._meta.label, 0)


def _related_rows_delete(*, subject: Subject) -> dict[str, int]:
    """Rows of any model that point at the person's customers (messages, conversations, tracked
    links, …) are deleted, not just unlinked: a foreign key that would be set to NULL still leaves
    the rest of the row (a message body, a link made for them) behind."""
    counts: dict[str, int] = {}
    for relation in Customer._meta.related_objects:
        model = relation.related_model
        if not isinstance(model, type) or model is Customer or model in KEPT_RELATIONS:
            continue
        if model is Event:
            continue
        field_name = relation.field.name
        _, per_model = model._default_manager.filter(**{f"{field_name}__in": subject.group_ids}).delete()
        for label, n in per_model.items():
            counts[label] = counts.get(label, 0) + n
    return counts


def _audit_redact(*, workspace: Workspace, subject: Subject, needles: list[str]) -> int:
    values = [v for v in needles if v]
    for customer in Customer.objects.filter(pk__in=subject.group_ids):
        if customer.name and len(customer.name) >= 3:
            values.append(customer.name)
    if not values:
        return 0
    annotations, condition = _text_match(AuditLog, ["target", "details"], values)
    return (
        AuditLog.objects.filter(workspace=workspace)
        .annotate(**annotations)
        .filter(condition)
        .update(target="[erased]", details={"redacted": "personal data erased"})
    )


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
        subject = subject_get(workspace=workspace, customer=customer)
        list(Customer.objects.select_for_update().filter(pk__in=subject.group_ids).order_by("pk"))
        ref = subject.ref
        needles = _needles(subject)
        device_hashes = subject.device_hashes

        outcome: dict[str, int] = {"customers": len(subject.group_ids), "identifiers": len(subject.identifiers)}
        outcome["events"] = _events_delete(workspace=workspace, subject=subject)
        outcome["visits"] = (
            Visit.objects.filter(workspace=workspace, device_hash__in=device_hashes).delete()[0] if device_hashes else 0
        )
        consent = Q(customer_id__in=subject.group_ids)
        if device_hashes:
            consent |= Q(device_hash__in=device_hashes)
        outcome["consent_records"] = ConsentRecord.objects.filter(consent, workspace=workspace).delete()[0]
        outcome["webhook_payloads"] = _payloads_delete(workspace=workspace, needles=needles)
        # CRMs that can delete get a delete of the person's record (sent after commit); the
        # person's other destination deliveries go. docs/destinations.md names who cannot delete.
        outcome["destination_deletes_queued"] = destination_erasures_queue(
            workspace=workspace, customer_ids=subject.group_ids
        )
        related = _related_rows_delete(subject=subject)
        outcome["messages"] = related.get("agents.Message", 0)
        outcome["related_rows"] = sum(related.values())
        outcome["audit_rows_redacted"] = _audit_redact(workspace=workspace, subject=subject, needles=needles)
        DataSubjectRequest.objects.filter(workspace=workspace, customer_id__in=subject.group_ids).update(customer=None)
        # Merged customers point at the survivor; clear those links before deleting the group.
        Customer.objects.filter(pk__in=subject.group_ids).update(merged_into=None)
        Customer.objects.filter(pk__in=subject.group_ids).delete()
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
        # Cached visit state of the person's devices (Redis) goes too, after the rows are gone.
        hashes = list(device_hashes)
        transaction.on_commit(lambda: visits_cache_forget(workspace.pk, hashes))
    return outcome
