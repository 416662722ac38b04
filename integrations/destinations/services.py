"""Writes of destinations: create/update/pause/remove, deliveries from events and moments, sending
with retries, the 72-hour pause, replay, the test event, erasure."""

import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Max, Min, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from identity.models import Customer
from integrations.destinations import dispatch
from integrations.destinations.base import Answer, ConfigError, Item
from integrations.destinations.consent import consent_refusal
from integrations.destinations.context import items_load
from integrations.destinations.models import (
    DUE_STATES,
    DeliveryKind,
    DeliveryState,
    Destination,
    DestinationDelivery,
    DestinationStatus,
)
from integrations.destinations.rules import event_rule, moment_rule, rules_validate, rung_rules
from integrations.destinations.senders.crm import CrmSender
from integrations.destinations.specs import SPECS, config_validate
from integrations.events import event_record
from tracking.models import Event
from workspaces.models import Membership, Role, Workspace
from workspaces.services import audit_log_record

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=72)
LEASE = timedelta(minutes=5)
FIRST_DELAYS = (1.0, 5.0, 30.0)
PER_ITEM_CHUNK = 25
MAX_DELAY = 3600.0
MAX_RETRY_AFTER = 6 * 3600.0
# Events Clarm writes about its own sending: never matched by rules (no loops).
INTERNAL_EVENTS = frozenset(("crm_contact_synced",))


class DestinationInputError(ValueError):
    """Input the caller must fix; the message says what."""


# --- destinations ---------------------------------------------------------------------------------


@transaction.atomic
def destination_create(
    *, workspace: Workspace, provider: str, name: str, config: object, rules: object, actor: User | None
) -> Destination:
    if provider not in SPECS:
        raise DestinationInputError(f"provider must be one of {', '.join(SPECS)}.")
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 120:
        raise DestinationInputError("name is required (at most 120 characters).")
    try:
        clean_rules = rules_validate(rules)
        clean_config = config_validate(provider, config)
    except ValueError as exc:
        raise DestinationInputError(str(exc)) from exc
    destination = Destination(workspace=workspace, provider=provider, name=name, rules=clean_rules)
    destination.set_config(clean_config)
    destination.save()
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="destination.created",
        target=f"{provider}:{destination.pk}",
        details={"name": name, "config_keys": sorted(clean_config)},
    )
    dispatch.workspace_forget(workspace.pk)
    return destination


@transaction.atomic
def destination_update(
    *,
    destination: Destination,
    actor: User | None,
    name: object = None,
    config: object = None,
    rules: object = None,
    status: object = None,
) -> Destination:
    fields = ["updated_at"]
    try:
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > 120:
                raise DestinationInputError("name must be a non-empty string (at most 120 characters).")
            destination.name = name.strip()
            fields.append("name")
        if rules is not None:
            destination.rules = rules_validate(rules)
            fields.append("rules")
        if config is not None:
            destination.set_config(
                config_validate(destination.provider, config, current=destination.config, partial=True)
            )
            fields.append("config_encrypted")
    except ValueError as exc:
        raise DestinationInputError(str(exc)) from exc
    if status is not None:
        if status not in (DestinationStatus.ACTIVE, DestinationStatus.PAUSED):
            raise DestinationInputError("status must be active or paused.")
        destination.status = str(status)
        if status == DestinationStatus.ACTIVE:
            destination.failing_since = None
            fields.append("failing_since")
        fields.append("status")
    destination.updated_at = timezone.now()
    destination.save(update_fields=fields)
    audit_log_record(
        workspace=destination.workspace,
        actor=actor,
        action="destination.updated",
        target=f"{destination.provider}:{destination.pk}",
        details={"fields": sorted(set(fields) - {"updated_at"})},
    )
    dispatch.workspace_forget(destination.workspace_id)
    if destination.status == DestinationStatus.ACTIVE:
        flush_schedule(destination.pk)
    return destination


@transaction.atomic
def destination_delete(*, destination: Destination, actor: User | None) -> None:
    audit_log_record(
        workspace=destination.workspace,
        actor=actor,
        action="destination.deleted",
        target=f"{destination.provider}:{destination.pk}",
        details={"name": destination.name},
    )
    destination.delete()
    dispatch.workspace_forget(destination.workspace_id)


# --- deliveries from events and moments ------------------------------------------------------------


def _live_destinations(workspace_id: int) -> list[Destination]:
    # Paused destinations keep collecting deliveries: they are sent when the destination resumes.
    return list(Destination.objects.filter(workspace_id=workspace_id).select_related("workspace"))


def _rung_crossings(events: list[Event]) -> list[tuple[Event, int]]:
    """(event, rung) for each rung a customer newly reaches in these events (in id order)."""
    by_customer: dict[int, list[Event]] = {}
    for event in sorted(events, key=lambda e: e.pk):
        if event.customer_id is not None:
            by_customer.setdefault(event.customer_id, []).append(event)
    out: list[tuple[Event, int]] = []
    for customer_id, own in by_customer.items():
        if max(e.rung for e in own) == 0:
            continue
        before = Event.objects.filter(customer_id=customer_id, pk__lt=own[0].pk).aggregate(top=Max("rung"))["top"]
        reached = before or 0
        for event in own:
            for rung in range(reached + 1, event.rung + 1):
                out.append((event, rung))
            reached = max(reached, event.rung)
    return out


def deliveries_from_events(*, workspace_id: int, event_ids: list[int]) -> set[int]:
    """Delivery rows for stitched events (event rules and rung crossings). Returns the destinations
    that got new rows. Idempotent: the rows are unique per (destination, key)."""
    destinations = _live_destinations(workspace_id)
    if not destinations or not event_ids:
        return set()
    events = list(
        Event.objects.filter(workspace_id=workspace_id, pk__in=event_ids, is_bot=False)
        .exclude(event__in=INTERNAL_EVENTS)
        .only("id", "event", "source", "customer_id", "rung")
    )
    crossings = _rung_crossings(events) if any(rung_rules(d.rules) for d in destinations) else []
    rows: list[DestinationDelivery] = []
    for destination in destinations:
        for event in events:
            rule = event_rule(destination.rules, name=event.event, source=event.source)
            if rule is not None:
                rows.append(
                    _row(destination, DeliveryKind.EVENT, f"event:{event.pk}", rule, event.pk, event.customer_id)
                )
        for rule in rung_rules(destination.rules):
            for event, rung in crossings:
                if rung == rule["rung"]:
                    rows.append(
                        _row(
                            destination,
                            DeliveryKind.RUNG_REACHED,
                            f"rung_reached:{rung}:{event.customer_id}",
                            rule,
                            event.pk,
                            event.customer_id,
                            {"rung": rung},
                        )
                    )
    DestinationDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return {row.destination_id for row in rows}


def _row(
    destination: Destination,
    kind: str,
    key: str,
    rule: dict[str, Any],
    event_id: int | None,
    customer_id: int | None,
    data: dict[str, Any] | None = None,
) -> DestinationDelivery:
    return DestinationDelivery(
        workspace_id=destination.workspace_id,
        destination=destination,
        kind=kind,
        key=key[:120],
        rule=rule,
        event_id=event_id,
        customer_id=customer_id,
        data=data or {},
        next_attempt_at=timezone.now(),
    )


def deliveries_from_moment(
    *, workspace_id: int, customer_id: int, moment: str, key: str, data: dict[str, Any], event_id: int | None = None
) -> set[int]:
    rows = []
    for destination in _live_destinations(workspace_id):
        rule = moment_rule(destination.rules, moment)
        if rule is not None:
            rows.append(_row(destination, moment, f"{moment}:{customer_id}:{key}", rule, event_id, customer_id, data))
    DestinationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return {row.destination_id for row in rows}


# --- sending ---------------------------------------------------------------------------------------


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: about 1 s, 5 s, 30 s, then
    doubling from 60 s up to an hour, ±20 % jitter; never sooner than the provider's Retry-After."""
    if attempts <= len(FIRST_DELAYS):
        base = FIRST_DELAYS[attempts - 1]
    else:
        base = min(MAX_DELAY, 60.0 * 2 ** (attempts - len(FIRST_DELAYS) - 1))
    delay = base * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def _claim(destination: Destination, *, now: datetime, limit: int) -> list[DestinationDelivery]:
    """Due rows of the destination, leased to this sender (status sending, due again after LEASE)."""
    with transaction.atomic():
        ids = list(
            DestinationDelivery.objects.select_for_update(skip_locked=True)
            .filter(destination=destination, status__in=DUE_STATES, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        # One statement for the whole batch (a burst's 1,000 rows), not one per row.
        DestinationDelivery.objects.filter(pk__in=ids).update(
            status=DeliveryState.SENDING,
            attempts=F("attempts") + 1,
            first_attempt_at=Coalesce("first_attempt_at", Value(now)),
            next_attempt_at=now + LEASE,
        )
    return list(DestinationDelivery.objects.filter(pk__in=ids).order_by("next_attempt_at", "id"))


def _settle(row: DestinationDelivery, answer: Answer, *, now: datetime) -> None:
    row.last_status_code = answer.status_code
    row.last_answer = answer.text()
    if answer.remote_id:
        row.remote_id = answer.remote_id[:120]
    if answer.ok:
        row.status, row.delivered_at, row.next_attempt_at = DeliveryState.DELIVERED, now, None
    elif answer.retryable and now - (row.first_attempt_at or now) < GIVE_UP_AFTER:
        row.status = DeliveryState.RETRYING
        row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts, answer.retry_after))
    else:
        row.status, row.next_attempt_at = DeliveryState.FAILED, None
        if answer.retryable:
            row.last_answer = ("Gave up after 72 hours. " + row.last_answer)[:2000]


SETTLED_FIELDS = ["status", "last_status_code", "last_answer", "remote_id", "delivered_at", "next_attempt_at"]


def _settled_save(rows: list[DestinationDelivery]) -> None:
    """Rows that ended the same way (a batch shares the provider's answer) in one UPDATE each."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, name) for name in SETTLED_FIELDS), []).append(row.pk)
    for values, ids in groups.items():
        DestinationDelivery.objects.filter(pk__in=ids).update(**dict(zip(SETTLED_FIELDS, values, strict=True)))


def _send(destination: Destination, rows: list[DestinationDelivery], *, now: datetime) -> list[Answer]:
    spec = SPECS[destination.provider]
    items = items_load(
        rows,
        with_attribution=spec.purpose == "ad_sendback" or spec.can_erase,
        with_identifiers=destination.provider == "webhook",
    )
    sendable: list[Item] = []
    answers: dict[int, Answer] = {}
    for item in items:
        refusal = consent_refusal(purpose=spec.purpose, item=item)
        if refusal:
            answers[item.delivery.pk] = Answer(status_code=None, body=refusal, final=True)
            item.delivery.status = DeliveryState.SKIPPED
        elif item.delivery.kind != DeliveryKind.TEST and item.customer is None and item.delivery.customer_id:
            answers[item.delivery.pk] = Answer(status_code=None, body="The person was erased.", final=True)
        else:
            sendable.append(item)
    if sendable:
        try:
            sent = spec.sender.send(destination=destination, config=destination.config, items=sendable)
        except ConfigError as exc:
            sent = [Answer(status_code=None, body=str(exc), final=True)] * len(sendable)
        for item, answer in zip(sendable, sent, strict=True):
            answers[item.delivery.pk] = answer
    for row in rows:
        answer = answers[row.pk]
        if row.status == DeliveryState.SKIPPED:
            row.last_answer, row.next_attempt_at = answer.body, None
        else:
            _settle(row, answer, now=now)
    _settled_save(rows)
    for item in sendable:
        answer = answers[item.delivery.pk]
        if answer.ok and answer.remote_id and spec.can_erase and item.customer is not None and item.customer.pk:
            _remote_identifier_keep(destination, item.customer, answer.remote_id)
    return [answers[row.pk] for row in rows]


def _remote_identifier_keep(destination: Destination, customer: Customer, remote_id: str) -> None:
    """The CRM's id becomes an external identifier (`hubspot:123`) of the person, through ingest (the
    one resolver), once per person and destination."""
    try:
        event_record(
            workspace=destination.workspace,
            event="crm_contact_synced",
            source="webhook",
            provider=destination.provider,
            message_id=f"dest:{destination.pk}:{customer.pk}:{remote_id}",
            properties={"title": f"Synced to {SPECS[destination.provider].name}", "provider": destination.provider},
            email=customer.email or None,
            external_ids={destination.provider: remote_id},
        )
    except Exception:
        logger.exception("could not keep the %s id of customer %s", destination.provider, customer.pk)


def _health(destination: Destination, answers: list[Answer], *, now: datetime) -> None:
    if any(a.ok for a in answers):
        Destination.objects.filter(pk=destination.pk).update(last_success_at=now, failing_since=None)
        if destination.failing_since is not None:
            # It answers again: what waits for a later retry (up to an hour after a long outage) is
            # due now, instead of trickling in over the next hour.
            DestinationDelivery.objects.filter(
                destination=destination, status=DeliveryState.RETRYING, next_attempt_at__gt=now
            ).update(next_attempt_at=now)
        destination.failing_since = None
        return
    if not any(a.retryable for a in answers):
        return
    since = destination.failing_since or now
    if destination.failing_since is None:
        Destination.objects.filter(pk=destination.pk, failing_since__isnull=True).update(failing_since=now)
        destination.failing_since = now
    if now - since >= GIVE_UP_AFTER and destination.status == DestinationStatus.ACTIVE:
        _pause_failing(destination, last=answers[-1])


def _pause_failing(destination: Destination, *, last: Answer) -> None:
    with transaction.atomic():
        updated = Destination.objects.filter(pk=destination.pk, status=DestinationStatus.ACTIVE).update(
            status=DestinationStatus.FAILING, updated_at=timezone.now()
        )
        if not updated:
            return
        destination.status = DestinationStatus.FAILING
        audit_log_record(
            workspace=destination.workspace,
            actor=None,
            action="destination.paused_failing",
            target=f"{destination.provider}:{destination.pk}",
            details={"last_answer": last.text()[:300]},
        )
        owners = list(
            Membership.objects.filter(workspace_id=destination.workspace_id, role=Role.OWNER).values_list(
                "user__email", flat=True
            )
        )
        if owners:
            subject = f"[Clarm] Destination paused: {destination.name}"
            body = (
                f'The destination "{destination.name}" ({SPECS[destination.provider].name}) of '
                f"{destination.workspace.name} has failed for 72 hours and is now paused. Nothing is lost: "
                f"its deliveries wait and are sent when you resume it.\n\nLast answer: {last.text()[:500]}\n\n"
                f"{settings.CLARM_PUBLIC_URL.rstrip('/')}/w/{destination.workspace.slug}/integrations/destinations/"
            )
            transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, owners))


def _batch_not_full(destination: Destination, *, now: datetime, size: int, linger: float) -> datetime | None:
    """For a batching provider: when a partial batch should go (its oldest row's age reaches
    `linger`), or None when a full batch is due or the partial one has waited long enough."""
    due = DestinationDelivery.objects.filter(
        destination=destination, status__in=DUE_STATES, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "id")
    if due[size - 1 : size].exists():
        return None
    oldest = due.values_list("created_at", flat=True).first()
    if oldest is None or oldest <= now - timedelta(seconds=linger):
        return None
    return oldest + timedelta(seconds=linger)


def destination_flush(
    *, destination_id: int, now: datetime | None = None, max_batches: int = 50, linger: float = 0.0
) -> dict[str, int]:
    """Send the due deliveries of one destination, in batches of the provider's size. Returns counts.
    Stops at the first batch that did not all go through (the next attempt is scheduled). With
    `linger`, a batching provider (Meta, Google) waits up to that many seconds for a batch to fill,
    so a burst goes out in full requests."""
    counts = {"sent": 0, "delivered": 0, "retrying": 0, "failed": 0, "skipped": 0, "requests": 0}
    destination = Destination.objects.select_related("workspace").filter(pk=destination_id).first()
    if destination is None or destination.status != DestinationStatus.ACTIVE:
        return counts
    sender = SPECS[destination.provider].sender
    for _ in range(max_batches):
        moment = now or timezone.now()
        # One request per delivery providers still take a chunk per claim (fewer queries per
        # delivery), except while failing: then one probe at a time, so a down receiver is not hammered.
        limit = sender.batch_size if sender.batch_size > 1 else (1 if destination.failing_since else PER_ITEM_CHUNK)
        if linger and sender.batch_size > 1:
            wait_until = _batch_not_full(destination, now=moment, size=sender.batch_size, linger=linger)
            if wait_until is not None:
                dispatch.flush_later(destination_id, at=wait_until)
                break
        rows = _claim(destination, now=moment, limit=limit)
        if not rows:
            break
        answers = _send(destination, rows, now=moment)
        counts["requests"] += 1
        counts["sent"] += len(rows)
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        _health(destination, answers, now=moment)
        if destination.status != DestinationStatus.ACTIVE or any(r.status == DeliveryState.RETRYING for r in rows):
            break
    # The earliest retry still ahead (the sweep on beat is the backstop for the rest).
    retry_at = DestinationDelivery.objects.filter(
        destination_id=destination_id, status=DeliveryState.RETRYING, next_attempt_at__gt=timezone.now()
    ).aggregate(at=Min("next_attempt_at"))["at"]
    if retry_at is not None and destination.status == DestinationStatus.ACTIVE:
        dispatch.flush_later(destination_id, at=retry_at)
    return counts


def flush_schedule(destination_id: int) -> None:
    transaction.on_commit(lambda: dispatch.flush_soon(destination_id))


def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Destinations with deliveries due (for the sweep on beat)."""
    now = now or timezone.now()
    rows = (
        DestinationDelivery.objects.filter(
            status__in=DUE_STATES, next_attempt_at__lte=now, destination__status=DestinationStatus.ACTIVE
        )
        .values_list("destination_id", flat=True)
        .distinct()
    )
    return list(rows[:limit])


@transaction.atomic
def delivery_replay(*, delivery: DestinationDelivery, actor: User | None) -> DestinationDelivery:
    """Send a delivery again (a failed one, or any): due now, with a fresh 72-hour window."""
    DestinationDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryState.PENDING, next_attempt_at=timezone.now(), first_attempt_at=None
    )
    audit_log_record(
        workspace=delivery.workspace,
        actor=actor,
        action="destination.delivery_replayed",
        target=f"{delivery.destination_id}:{delivery.key}",
    )
    flush_schedule(delivery.destination_id)
    delivery.refresh_from_db()
    return delivery


# --- the test event ----------------------------------------------------------------------------------


def destination_test(*, destination: Destination, actor: User | None) -> tuple[bool, str]:
    """Send a made-up event (a test person buying for 1.00 USD) now and return the provider's answer.
    CRMs get a contact test@example.com; Meta gets the destination's test_event_code when set."""
    rule = next(
        (r for r in destination.rules if r.get("on") == "event"), destination.rules[0] if destination.rules else {}
    )
    delivery = DestinationDelivery.objects.create(
        workspace_id=destination.workspace_id,
        destination=destination,
        kind=DeliveryKind.TEST,
        key=f"test:{uuid.uuid4().hex}",
        rule=rule,
        status=DeliveryState.SENDING,
        attempts=1,
        first_attempt_at=timezone.now(),
    )
    customer = Customer(
        workspace_id=destination.workspace_id,
        name="Test Person",
        email="test@example.com",
        phone="+15555550100",
        rung=4,
        customer_number=1,
    )
    name = str(rule.get("event") or "purchase")
    event = Event(
        workspace_id=destination.workspace_id,
        event="purchase" if name == "*" else name,
        source="web",
        occurred_at=timezone.now(),
        properties={"amount": 1.0, "currency": "USD", "title": "Test event"},
        context={},
    )
    item = Item(delivery=delivery, event=event, customer=customer)
    try:
        answer = SPECS[destination.provider].sender.send(
            destination=destination, config=destination.config, items=[item]
        )[0]
    except ConfigError as exc:
        answer = Answer(status_code=None, body=str(exc), final=True)
    delivery.status = DeliveryState.DELIVERED if answer.ok else DeliveryState.FAILED
    delivery.last_status_code, delivery.last_answer = answer.status_code, answer.text()
    delivery.delivered_at = timezone.now() if answer.ok else None
    delivery.save(update_fields=["status", "last_status_code", "last_answer", "delivered_at"])
    audit_log_record(
        workspace=destination.workspace,
        actor=actor,
        action="destination.tested",
        target=f"{destination.provider}:{destination.pk}",
        details={"ok": answer.ok},
    )
    return answer.ok, answer.text()


# --- erasure -----------------------------------------------------------------------------------------


def destination_erasures_queue(*, workspace: Workspace, customer_ids: list[int]) -> int:
    """Inside the erasure's transaction: queue a delete of the person's record at every destination
    that can delete (the CRMs), and drop the person's other deliveries. Returns the deletes queued."""
    mine = DestinationDelivery.objects.filter(workspace=workspace, customer_id__in=customer_ids)
    remote = (
        mine.exclude(remote_id="")
        .filter(destination__provider__in=[k for k, s in SPECS.items() if s.can_erase])
        .values_list("destination_id", "remote_id")
        .distinct()
    )
    pairs = sorted(set(remote))
    destinations = {d.pk: d for d in Destination.objects.filter(pk__in={p[0] for p in pairs})}
    rows = [
        _row(
            destinations[dest_id],
            DeliveryKind.ERASURE,
            f"erasure:{remote_id}",
            {},
            None,
            None,
            {"remote_id": remote_id},
        )
        for dest_id, remote_id in pairs
    ]
    mine.delete()
    DestinationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    for dest_id in {p[0] for p in pairs}:
        flush_schedule(dest_id)
    return len(rows)


# --- opt-outs ----------------------------------------------------------------------------------------

OPTOUT_STOPS = {
    "ad_sendback": "Skipped: the person withdrew consent to ad send-back.",
    "analytics": "Skipped: the person opted out of analytics tracking.",
}


def destination_optouts_apply(*, workspace_id: int, customer_ids: list[int], changes: dict[str, bool]) -> int:
    """After a person's preferences changed (`identity.privacy.hooks`): what waits to be sent about
    them and is no longer allowed is skipped now (ad send-back after an `ad_sendback` or `analytics`
    opt-out; everything but opt-outs and erasures after an `analytics` one), and each marketing opt-out
    a CRM can record is queued as an `optout` delivery to every CRM record Clarm created or updated
    for the person. Grants are not pushed: a CRM's opt-out is undone only in the CRM. Returns the
    opt-out deliveries queued."""
    withdrawn = sorted(p for p, allowed in changes.items() if not allowed)
    if not withdrawn or not customer_ids:
        return 0
    waiting = DestinationDelivery.objects.filter(
        workspace_id=workspace_id,
        customer_id__in=customer_ids,
        status__in=(DeliveryState.PENDING, DeliveryState.RETRYING),
    ).exclude(kind__in=(DeliveryKind.OPTOUT, DeliveryKind.ERASURE))
    for purpose in ("analytics", "ad_sendback"):
        if purpose in withdrawn:
            providers = [k for k, s in SPECS.items() if purpose == "analytics" or s.purpose == purpose]
            waiting.filter(destination__provider__in=providers).update(
                status=DeliveryState.SKIPPED, next_attempt_at=None, last_answer=OPTOUT_STOPS[purpose]
            )
    records = (
        DestinationDelivery.objects.filter(workspace_id=workspace_id, customer_id__in=customer_ids)
        .exclude(remote_id="")
        .filter(destination__provider__in=[k for k, s in SPECS.items() if s.can_erase])
        .values_list("destination_id", "remote_id")
        .distinct()
    )
    pairs = sorted(set(records))
    destinations = {d.pk: d for d in Destination.objects.filter(pk__in={p[0] for p in pairs})}
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    rows = []
    for dest_id, remote_id in pairs:
        sender = SPECS[destinations[dest_id].provider].sender
        purposes = [p for p in withdrawn if isinstance(sender, CrmSender) and p in sender.optout_purposes]
        if purposes:
            key = f"optout:{remote_id}:{'+'.join(purposes)}:{stamp}"
            data = {"remote_id": remote_id, "opted_out": purposes}
            rows.append(_row(destinations[dest_id], DeliveryKind.OPTOUT, key, {}, None, customer_ids[0], data))
    DestinationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    for dest_id in {row.destination_id for row in rows}:
        flush_schedule(dest_id)
    return len(rows)
