"""Ingest: the one entry point every source uses (snippet, Segment SDKs, webhooks, agents)."""

import datetime
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from clarm.clientip import ip_clean
from clarm.publish import task_publish
from identity.normalize import Claims, claims_from_values
from identity.purposes import CONSENT_EVENT_CHOICES, Consent, Purpose, purpose_refused
from identity.stitching import LadderSignals
from identity.stitching.batch import IdentityBatch
from identity.tasks import rollups_schedule
from tracking.attribution import attribution_from, attribution_is_paid
from tracking.botevents import bot_identifiers
from tracking.clock import BadInstant, instant_parse, occurred_at_compute
from tracking.dedupe import MAX_MESSAGE_ID, SERVER_KEY_PREFIX, CallerKeyReserved, caller_key_check
from tracking.eventwrite import events_insert
from tracking.hooks import events_stitched_announce
from tracking.inputs import SOURCES, EventInput, IngestResult
from tracking.knowndevices import LaneEvent, known_devices_write
from tracking.masking import contacts_mask
from tracking.models import DailySalt, Source
from tracking.network import geo_lookup, ip_hash
from tracking.useragent import ua_describe
from tracking.visits import VisitState, VisitTracker
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

# Whole-transaction attempts when a concurrent request conflicts (then the API answers 503).
STORE_ATTEMPTS = 3
MAX_EVENT_NAME = 120
MAX_SESSION_ID = 64
MAX_URL = 2000
# Sources of browsing: their anonymous events (no identifier at all) are still counted in visits by
# IP hash, and only their page views can take the known-device lane.
VISIT_SOURCES = frozenset((Source.WEB, Source.PIXEL, Source.AD))
# Sources a bot verdict never applies to: a server, a provider or a channel sent them, not a browser.
NEVER_BOT_SOURCES = frozenset((Source.AGENT, Source.WEBHOOK, Source.CHANNEL, Source.EMAIL))
# Keys of one event's `properties` (and of its `traits`).
MAX_PROPERTIES = 1000
# Consent choices are kept even for a person who opted out: they are the record of the choice.
CONSENT_EVENTS = frozenset(CONSENT_EVENT_CHOICES)
# What a request sent with Sec-GPC: 1 or DNT: 1 may still store: the visitor's own opt-out.
OPT_OUT_EVENTS = frozenset(("consent_denied", "consent_withdrawn", "opted_out"))
# Context keys only the server sets: a client cannot forge them (and may never send us its IP).
_SERVER_CONTEXT_KEYS = frozenset(
    (
        *("ip", "ip_hash", "country", "asn", "network", "prefix"),
        *("ua", "notes", "clock", "ladder", "attribution", "userAgent"),
    )
)
_SOURCE_LIST = ", ".join(Source.values)


class IngestRefused(Exception):
    """The whole request is refused and nothing is stored (e.g. a workspace of another region)."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Reject(ValueError):
    pass


@dataclass
class _Prepared:
    index: int
    name: str
    source: str
    occurred_at: datetime.datetime
    properties: dict[str, Any]
    context: dict[str, Any]
    claims: Claims
    traits: dict[str, Any]
    url: str | None
    campaign: dict[str, Any] | None
    session_id: str | None
    message_id: str | None
    device_hash: str
    visit_device: str
    is_bot: bool
    purpose: str
    phone_channel: bool
    account: bool
    # The event's only identifier is its device, and it carries nothing else that could change its
    # customer (no traits, no ladder signal): what the known-device lane can take.
    lane_device_only: bool
    visit: VisitState | None = field(default=None)


def _text(value: object, name: str, max_length: int | None = None, *, truncate: bool = False) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Reject(f"{name} must be a string")
    text = str(value).strip()
    if max_length is not None and len(text) > max_length:
        if not truncate:
            raise _Reject(f"{name} is longer than {max_length} characters")
        text = text[:max_length]
    return text or None


def _mapping(value: object, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Reject(f"{name} must be an object")
    return value


def _message_id(item: EventInput) -> str | None:
    """The event's stored dedupe key: Clarm's own key, or the caller's message id (which may not
    claim Clarm's namespace: tracking.dedupe)."""
    if item.server_key is not None:
        if not item.server_key.startswith(SERVER_KEY_PREFIX) or len(item.server_key) > MAX_MESSAGE_ID:
            raise ValueError(f"Not a server dedupe key: {item.server_key[:40]!r}")
        return item.server_key
    message_id = _text(item.message_id, "message_id", MAX_MESSAGE_ID)
    if message_id is None:
        return None
    try:
        return caller_key_check(message_id)
    except CallerKeyReserved as exc:
        raise _Reject(str(exc)) from None


def _bag(value: object, name: str) -> dict[str, Any]:
    """A free-form object of an event (`properties`, `traits`), at most MAX_PROPERTIES keys."""
    bag = _mapping(value, name)
    if len(bag) > MAX_PROPERTIES:
        raise _Reject(f"{name} has {len(bag)} keys; at most {MAX_PROPERTIES} per event")
    return bag


def _prepare(
    *,
    workspace: Workspace,
    index: int,
    item: EventInput,
    received_at: datetime.datetime,
    ip: str | None,
    memo: dict[str | None, tuple[str | None, dict[str, Any]]] | None = None,
) -> _Prepared:
    name = _text(item.event, "event", MAX_EVENT_NAME)
    if not name:
        raise _Reject("event is required")
    country = workspace.default_country
    source = _text(item.source, "source") or Source.WEB
    if source not in SOURCES:
        raise _Reject(f"source must be one of {_SOURCE_LIST} (got {source[:40]!r})")
    # Plain contact details live only on the customer: what is stored with the event is masked.
    properties = contacts_mask(_bag(item.properties, "properties"), country=country)
    traits = _bag(item.traits, "traits")
    context = contacts_mask(
        {k: v for k, v in _mapping(item.context, "context").items() if k not in _SERVER_CONTEXT_KEYS}, country=country
    )
    external = _mapping(item.external_ids, "external_ids")
    try:
        timestamp = instant_parse(
            item.occurred_at if item.occurred_at is not None else item.timestamp,
            field_name="timestamp" if item.occurred_at is None else "occurred_at",
        )
        sent_at = instant_parse(item.sent_at, field_name="sent_at")
    except BadInstant as exc:
        raise _Reject(str(exc)) from None
    occurred_at, clock = occurred_at_compute(timestamp=timestamp, sent_at=sent_at, received_at=received_at)
    message_id = _message_id(item)
    session_id = _text(item.session_id, "session_id", MAX_SESSION_ID)
    url = contacts_mask(_text(item.url, "url", MAX_URL, truncate=True), country=country)
    referrer = contacts_mask(_text(item.referrer, "referrer", MAX_URL, truncate=True), country=country)
    # Only the browser user agent the event carries: never the request's (a server forwarding events).
    ua_text = _text(item.user_agent, "user_agent", 1000, truncate=True)
    campaign = context.get("campaign") if isinstance(context.get("campaign"), dict) else None

    ua, looks_bot = ua_describe(ua_text) if ua_text else ({}, False)
    is_bot = looks_bot and source not in NEVER_BOT_SOURCES
    geo_ip = ip_clean(item.client_ip) or ip
    # The events of a request mostly share one address: hash it and look it up once (memo).
    known = memo.get(geo_ip) if memo is not None else None
    if known is None:
        known = (ip_hash(geo_ip, workspace_id=workspace.pk) if geo_ip else None, geo_lookup(geo_ip).as_context())
        if memo is not None:
            memo[geo_ip] = known
    hashed_ip, geo_context = known
    # A bot's claims are never stitched, but they are hashed like anyone's: to mask its properties
    # (no plain email/phone is stored) and so an erasure finds its events by the person's identifiers.
    claims = claims_from_values(
        workspace,
        device=item.visitor_id,
        email=item.email,
        phone=item.phone,
        user_id=item.user_id,
        external=external,
    )
    devices = claims.of_kind("device")
    device_hash = devices[0].value_hash if devices else ""
    visit_device = device_hash
    if not is_bot and not claims.claims and hashed_ip and source in VISIT_SOURCES:
        # No identifier at all (before consent): counted in visits by the day's IP hash.
        visit_device = hashlib.sha256(f"anon:{hashed_ip}:{ua_text or ''}".encode()).hexdigest()
    if is_bot:
        visit_device = ""
        if claims.claims:
            context["bot_identifiers"] = bot_identifiers(claims)

    if url:
        context["url"] = url
    if referrer:
        context["referrer"] = referrer
    if ua:
        context["ua"] = ua
    context.update(geo_context)
    if hashed_ip:
        context["ip_hash"] = hashed_ip
    if claims.notes:
        context["notes"] = claims.notes
    if clock:
        context["clock"] = clock
    account = bool(item.account_signal) or name == "purchase"
    if account:
        context["ladder"] = "account"
    elif item.phone_channel:
        context["ladder"] = "phone"
    return _Prepared(
        index=index,
        name=contacts_mask(name, country=country),
        source=source,
        occurred_at=occurred_at,
        properties=properties,
        context=context,
        claims=claims,
        traits=traits,
        url=url,
        campaign=campaign,
        session_id=session_id,
        message_id=message_id,
        device_hash=device_hash,
        visit_device=visit_device,
        is_bot=is_bot,
        purpose=Purpose.CONSENT if name in CONSENT_EVENTS else str(item.purpose or Purpose.ANALYTICS),
        phone_channel=bool(item.phone_channel),
        account=account,
        lane_device_only=(
            not is_bot
            and len(claims.claims) == 1
            and bool(device_hash)
            and not traits
            and not account
            and not item.phone_channel
            and not claims.notes
        ),
    )


def _consent_records_schedule(event_ids: list[int], opt_out_ids: frozenset[int] = frozenset()) -> None:
    """After commit: each consent event's record. An opt-out (denied, withdrawn, opted_out) is applied
    here, in this process, before the request is answered, so the person's next event is refused
    whatever the task queue's delay (the embedded broker polls once a second); if that fails it is
    left to the task, which retries."""
    from identity.privacy.tasks import consent_record_from_event

    for event_id in event_ids:
        if event_id in opt_out_ids:
            try:
                consent_record_from_event(event_id)
                continue
            except Exception:  # never a 500 after the commit: the task retries what failed here
                logger.exception("opt-out event %s not applied in the request; left to the task", event_id)
        # Bounded wait: when the broker is down, identity.consent_records_resume records it later.
        task_publish(consent_record_from_event, event_id)


def _event_row(
    p: _Prepared,
    workspace: Workspace,
    received_at: datetime.datetime,
    customer_id: int | None,
    rung: int,
    session_id: str,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace.pk,
        "customer_id": customer_id,
        "event": p.name,
        "source": p.source,
        "occurred_at": p.occurred_at,
        "received_at": received_at,
        "rung": rung,
        "session_id": session_id,
        "device_hash": p.device_hash,
        "message_id": p.message_id,
        "properties": p.properties,
        "context": p.context,
        "is_bot": p.is_bot,
    }


def _lane_events(workspace: Workspace, prepared: list[_Prepared], received_at: datetime.datetime) -> list[LaneEvent]:
    return [
        LaneEvent(
            row=_event_row(p, workspace, received_at, None, 0, p.session_id or ""),
            # The lane checks the analytics opt-out itself (allow_analytics, under a lock).
            eligible=p.lane_device_only
            and p.message_id is not None
            and p.purpose == Purpose.ANALYTICS
            and p.source in VISIT_SOURCES,
        )
        for p in prepared
    ]


def _after_batch_opt_outs(prepared: list[_Prepared]) -> tuple[list[_Prepared], int]:
    """An opt-out in a batch holds for the events after it: the opt-out is applied after the commit,
    so the batch's later events of that person are refused here (those carrying one of the opt-out's
    identifiers, or one an earlier event of the batch tied to them; one hop). Returns the events
    kept and how many were refused."""
    out: set[tuple[str, str]] = set()
    kept: list[_Prepared] = []
    refused = 0
    for p in prepared:
        keys = {(c.kind, c.value_hash) for c in p.claims.claims}
        if p.name in OPT_OUT_EVENTS and keys:
            out |= keys
            for earlier in kept:
                earlier_keys = {(c.kind, c.value_hash) for c in earlier.claims.claims}
                if earlier_keys & keys:
                    out |= earlier_keys
        elif out and keys & out and purpose_refused(p.purpose, Consent(analytics=False)):
            refused += 1
            continue
        kept.append(p)
    return kept, refused


def _store(*, workspace: Workspace, prepared: list[_Prepared], received_at: datetime.datetime) -> IngestResult:
    """Resolve identities, write events and visits: one transaction.

    Lock order (the same for every request, so concurrent batches never deadlock): the customers
    of all the request's identifiers first, in key order, in one query (IdentityBatch); then the
    events INSERT; then the visits, in id order, in one statement; then the customers' own
    changes, in id order. Only events that need a merge, a split or a new identifier lock anything
    on their own (the slow path, in a savepoint)."""
    result = IngestResult()
    devices = {p.visit_device for p in prepared if p.visit_device}
    tracker = VisitTracker(workspace_id=workspace.pk, device_hashes=devices)
    rows: list[tuple[_Prepared, dict[str, Any]]] = []
    with transaction.atomic():
        identities = IdentityBatch(workspace=workspace, claims=[p.claims for p in prepared if p.claims.claims])
        for p in prepared:
            if p.claims.claims and purpose_refused(p.purpose, identities.consent_of(p.claims)):
                # Refused for this purpose (e.g. an opted-out person's analytics): nothing of the event
                # is applied (no visit, trait, identifier or merge) and nothing is stored.
                result.suppressed += 1
                continue
            visit = None
            if p.visit_device:
                landing = attribution_from(p.url, p.campaign)
                visit, starts = tracker.assign(
                    device_hash=p.visit_device, session_id=p.session_id, at=p.occurred_at, landing=landing
                )
                if starts and landing:
                    p.context["attribution"] = landing
                    if p.source == Source.WEB and attribution_is_paid(landing):
                        p.source = Source.AD
            p.visit = visit
            customer_id: int | None = None
            rung = 0
            if p.claims.claims and not p.is_bot:
                signals = LadderSignals(
                    device_visit_count=visit.number if visit is not None and p.device_hash else 0,
                    phone_channel=p.phone_channel,
                    account=p.account,
                )
                resolution = identities.resolve(
                    claims=p.claims, signals=signals, traits=p.traits, occurred_at=p.occurred_at
                )
                customer_id, rung = resolution.customer_id, resolution.rung
                if resolution.merged_customer_ids:
                    # Events of this request not yet written follow their customer into the survivor.
                    merged = set(resolution.merged_customer_ids)
                    for _, row in rows:
                        if row["customer_id"] in merged:
                            row["customer_id"] = customer_id
            if visit is not None and customer_id is not None and p.lane_device_only:
                visit.customer_id = customer_id  # the device's owner, for the known-device lane
            session_id = visit.session_id if visit is not None else (p.session_id or "")
            rows.append((p, _event_row(p, workspace, received_at, customer_id, rung, session_id)))
        # The common case (every event of the request in one known visit) moves the visit on in
        # the INSERT itself on PostgreSQL; otherwise the tracker updates visits after.
        visits = {id(p.visit): p.visit for p, _ in rows}
        only = next(iter(visits.values())) if len(visits) == 1 else None
        touch = only if only is not None and only.visit_id is not None and connection.vendor == "postgresql" else None
        event_ids = events_insert([row for _, row in rows], visit_touch=touch)
        for (p, _), event_id in zip(rows, event_ids, strict=True):
            if event_id is None:
                result.duplicates += 1
                continue
            result.accepted += 1
            result.bots += p.is_bot
            result.event_ids.append(event_id)
            if p.visit is not None:
                p.visit.new_events += 1
        tracker.flush(already_touched=touch)
        identities.flush()
        consent_event_ids = [
            event_id for (p, _), event_id in zip(rows, event_ids, strict=True) if event_id and p.name in CONSENT_EVENTS
        ]
        opt_out_ids = frozenset(
            event_id for (p, _), event_id in zip(rows, event_ids, strict=True) if event_id and p.name in OPT_OUT_EVENTS
        )
        if consent_event_ids:
            transaction.on_commit(lambda: _consent_records_schedule(consent_event_ids, opt_out_ids))
    return result


def events_ingest(
    *,
    workspace: Workspace,
    events: list[EventInput],
    received_at: datetime.datetime | None = None,
    ip: str | None = None,
    privacy_signal: bool = False,
) -> IngestResult:
    """Validate, enrich, stitch and store events; returns once they are committed.

    `ip` is the request's (used when an event carries none of its own); it is never stored, only its
    daily-salted hash and its country and network. The request's User-Agent is not an argument: a
    bot verdict comes only from the user agent an event carries (and never for agent, webhook,
    channel or email events); bot events are stored unstitched and counted (`bots`). A bad event is
    rejected on its own (`rejected: [{"index", "error"}]`); the others are stored. Duplicate message
    ids are counted, not stored twice. An event whose purpose the person's preferences refuse
    (identity.purposes: every write-key event of a person who opted out of analytics, whatever its
    source) is neither applied nor stored (`suppressed`). `privacy_signal` (the request carried
    `Sec-GPC: 1` or `DNT: 1`) is an opt-out for every event of the request: only the visitor's own
    opt-out events are kept.

    Page views of known devices in a visit under way go through the known-device lane first
    (tracking.knowndevices: one statement, committed on its own); the rest, and whatever the lane
    could not confirm, through `_store` (one transaction)."""
    if workspace.region != settings.CLARM_REGION:
        raise IngestRefused(
            f"This workspace's data lives in region {workspace.region}; send to that region's endpoint."
        )
    received_at = received_at or timezone.now()
    ip = ip_clean(ip)
    rejected: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    prepared: list[_Prepared] = []
    seen_message_ids: set[str] = set()
    duplicates_in_request = 0
    memo: dict[str | None, tuple[str | None, dict[str, Any]]] = {}
    for index, item in enumerate(events):
        try:
            p = _prepare(
                workspace=workspace,
                index=index,
                item=item,
                received_at=received_at,
                ip=ip,
                memo=memo,
            )
        except _Reject as exc:
            rejected.append({"index": index, "error": str(exc)})
            continue
        warnings += [{"index": index, "field": k, "warning": note} for k, note in p.claims.notes.items()]
        if p.message_id is not None:
            if p.message_id in seen_message_ids:
                duplicates_in_request += 1
                continue
            seen_message_ids.add(p.message_id)
        prepared.append(p)
    signalled_out = 0
    if privacy_signal:
        signalled_out = sum(p.name not in OPT_OUT_EVENTS for p in prepared)
        prepared = [p for p in prepared if p.name in OPT_OUT_EVENTS]
    prepared, opted_out_in_batch = _after_batch_opt_outs(prepared)
    signalled_out += opted_out_in_batch

    result = IngestResult()
    lane = known_devices_write(workspace_id=workspace.pk, events=_lane_events(workspace, prepared, received_at))
    rest = [p for p, outcome in zip(prepared, lane, strict=True) if outcome is None]
    if rest:
        for attempt in range(STORE_ATTEMPTS):
            try:
                result = _store(workspace=workspace, prepared=rest, received_at=received_at)
                break
            except (IntegrityError, OperationalError):
                # A race with a concurrent request (identifier or visit created meanwhile, a
                # deadlock between concurrent merges of the same people): the transaction rolled
                # back whole, so run it again after a short random pause (so the two requests do
                # not meet again at once).
                if attempt == STORE_ATTEMPTS - 1 or connection.in_atomic_block:
                    raise
                logger.warning("ingest retry after a conflict", exc_info=True)
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                for p in rest:
                    p.context.pop("attribution", None)
    for outcome in lane:
        if outcome is None:
            continue
        if outcome.suppressed:
            result.suppressed += 1
        elif outcome.event_id is None:
            result.duplicates += 1
        else:
            result.accepted += 1
            result.event_ids.append(outcome.event_id)
    result.duplicates += duplicates_in_request
    result.suppressed += signalled_out
    result.rejected = rejected
    result.warnings = warnings
    events_stitched_announce(workspace.pk, result.event_ids)
    if result.event_ids:
        # The dashboard's rollups (identity.rollups): counted by a processor once the events commit.
        transaction.on_commit(partial(rollups_schedule, workspace.pk))
    return result


def ip_salts_rotate(*, today: datetime.date | None = None) -> int:
    """Delete the IP salts older than a day; returns how many were deleted. Once a salt is gone,
    no one can tell which address an old `ip_hash` came from."""
    today = today or timezone.now().date()
    deleted, _ = DailySalt.objects.filter(date__lt=today - datetime.timedelta(days=1)).delete()
    return deleted
