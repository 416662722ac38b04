"""The edge of ingest: the one entry point every source uses (snippet, Segment SDKs, webhooks, agents).

What it does and what it leaves to the stitcher: identity.stitching.stitcher (the pipeline, top to
bottom)."""

import datetime
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from clarm.clientip import ip_clean
from tracking.append import events_append
from tracking.botevents import bot_identifiers
from tracking.clock import BadInstant, instant_parse, occurred_at_compute
from tracking.dedupe import MAX_MESSAGE_ID, SERVER_KEY_PREFIX, CallerKeyReserved, caller_key_check
from tracking.hooks import events_appended_announce
from tracking.inputs import SOURCES, EventInput, IngestResult
from tracking.ladder import LadderSignals, ladder_context_value
from tracking.masking import contacts_mask
from tracking.models import DailySalt, Source
from tracking.network import geo_lookup, ip_hash
from tracking.normalize import claims_from_values
from tracking.prepared import CONSENT_EVENTS, OPT_OUT_EVENTS, VISIT_SOURCES, Prepared, opt_outs_within
from tracking.purposes import Purpose
from tracking.useragent import ua_describe
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_EVENT_NAME = 120
MAX_SESSION_ID = 64
MAX_URL = 2000
# Sources a bot verdict never applies to: a server, a provider or a channel sent them, not a browser.
NEVER_BOT_SOURCES = frozenset((Source.AGENT, Source.WEBHOOK, Source.CHANNEL, Source.EMAIL))
# Keys of one event's `properties` (and of its `traits`).
MAX_PROPERTIES = 1000
# Context keys only the server sets: a client cannot forge them (and may never send us its IP).
_SERVER_CONTEXT_KEYS = frozenset(
    (
        *("ip", "ip_hash", "country", "asn", "network", "prefix"),
        *("ua", "user_agent", "notes", "clock", "ladder", "attribution", "userAgent"),
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
    item: EventInput,
    received_at: datetime.datetime,
    ip: str | None,
    memo: dict[str | None, tuple[str | None, dict[str, Any]]] | None = None,
) -> Prepared:
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
    # A note names what was not used, e.g. an external id's namespace: it may itself be an address.
    claims.notes = contacts_mask(claims.notes, country=country)
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
        # The families are read from the text as sent (ua-parser takes a device model from it), so masked.
        context["ua"] = contacts_mask(ua, country=country)
        # As sent, but masked: what Meta's Conversions API needs with a web event (client_user_agent).
        context["user_agent"] = contacts_mask(ua_text, country=country)
    context.update(geo_context)
    if hashed_ip:
        context["ip_hash"] = hashed_ip
    if claims.notes:
        context["notes"] = claims.notes
    if clock:
        context["clock"] = clock
    account = bool(item.account_signal) or name == "purchase"
    if ladder := ladder_context_value(LadderSignals(phone_channel=bool(item.phone_channel), account=account)):
        context["ladder"] = ladder  # what the rung recompute after a split or an undo reads
    return Prepared(
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
    )


def events_ingest(
    *,
    workspace: Workspace,
    events: list[EventInput],
    received_at: datetime.datetime | None = None,
    ip: str | None = None,
    privacy_signal: bool = False,
) -> IngestResult:
    """The edge: validate, normalize and append events; returns once they are durably appended (the
    202). A stitcher stores them on their customers after (identity.stitching.stitcher).

    `ip` is the request's (used when an event carries none of its own); it is never stored, only its
    daily-salted hash and its country and network. The request's User-Agent is not an argument: a
    bot verdict comes only from the user agent an event carries (and never for agent, webhook,
    channel or email events); bot events are appended, stored unstitched and counted (`bots`). A bad
    event is rejected on its own (`rejected: [{"index", "error"}]`); the others are appended.
    Duplicate message ids are counted, not appended twice (tracking.append: exact, by the database).
    `privacy_signal` (the request carried `Sec-GPC: 1` or `DNT: 1`) is an opt-out for every event of
    the request: only the visitor's own opt-out events are kept (`suppressed` counts the others, and
    the events after an opt-out in the same request). A person who opted out earlier is refused by
    the stitcher (nothing of the event is stored), after the 202."""
    if workspace.region != settings.CLARM_REGION:
        raise IngestRefused(
            f"This workspace's data lives in region {workspace.region}; send to that region's endpoint."
        )
    received_at = received_at or timezone.now()
    ip = ip_clean(ip)
    result = IngestResult()
    prepared: list[Prepared] = []
    seen_message_ids: set[str] = set()
    memo: dict[str | None, tuple[str | None, dict[str, Any]]] = {}
    for index, item in enumerate(events):
        try:
            p = _prepare(workspace=workspace, item=item, received_at=received_at, ip=ip, memo=memo)
        except _Reject as exc:
            result.rejected.append({"index": index, "error": str(exc)})
            continue
        result.warnings += [{"index": index, "field": k, "warning": note} for k, note in p.claims.notes.items()]
        if p.message_id is not None:
            if p.message_id in seen_message_ids:
                result.duplicates += 1
                continue
            seen_message_ids.add(p.message_id)
        prepared.append(p)
    if privacy_signal:
        result.suppressed += sum(p.name not in OPT_OUT_EVENTS for p in prepared)
        prepared = [p for p in prepared if p.name in OPT_OUT_EVENTS]
    prepared, opted_out_in_request = opt_outs_within(prepared)
    result.suppressed += opted_out_in_request
    appended = events_append(workspace_id=workspace.pk, events=prepared, received_at=received_at)
    for p, fresh in zip(prepared, appended, strict=True):
        if fresh:
            result.accepted += 1
            result.bots += p.is_bot
        else:
            result.duplicates += 1
    if result.accepted:
        events_appended_announce(workspace.pk)
    return result


def ip_salts_rotate(*, today: datetime.date | None = None) -> int:
    """Delete the IP salts older than a day; returns how many were deleted. Once a salt is gone,
    no one can tell which address an old `ip_hash` came from."""
    today = today or timezone.now().date()
    deleted, _ = DailySalt.objects.filter(date__lt=today - datetime.timedelta(days=1)).delete()
    return deleted
