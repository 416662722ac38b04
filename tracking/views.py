"""Ingest endpoints: `POST /api/track` (the snippet), `GET /api/consent`, and Segment's HTTP
Tracking API under /v1/. Thin: parse, authorize, hand to `events_ingest`, answer."""

import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from clarm.clientip import client_ip
from tracking.clarm_format import FieldError, clarm_event_input
from tracking.clock import BadInstant, instant_parse
from tracking.http import (
    MAX_EVENT_BYTES,
    MAX_EVENTS,
    ApiError,
    basic_auth_user,
    body_read,
    cors_apply,
    error_response,
    ingest_authorize,
    json_object_load,
    json_strings_may_be_unstorable,
    json_value_problem,
    origin_allowed,
)
from tracking.inputs import EventInput
from tracking.network import consent_required, geo_lookup
from tracking.segment import MESSAGE_TYPES, SHORT_PATHS, segment_event_input
from tracking.services import IngestRefused, events_ingest
from tracking.writekeys import write_key_resolve

logger = logging.getLogger(__name__)

TRACK_METHODS = "POST, OPTIONS"
CONSENT_METHODS = "GET, OPTIONS"

Parser = Callable[[object], EventInput]


def _preflight(request: HttpRequest, *, methods: str) -> HttpResponse:
    """CORS preflight. The key is known here only from ?key= (browsers send no custom headers in
    a preflight); without it the real request is checked instead."""
    plain = request.GET.get("key")
    key = write_key_resolve(plain) if plain else None
    if key is not None and not origin_allowed(request.headers.get("Origin"), key.workspace):
        return JsonResponse({"error": "Origin not allowed for this workspace.", "details": None}, status=403)
    return cors_apply(HttpResponse(status=204), request, methods=methods)


def privacy_signal(request: HttpRequest) -> bool:
    """The browser asked not to be tracked: Global Privacy Control (`Sec-GPC: 1`) or Do Not Track
    (`DNT: 1`). Honoured at ingest whatever client sent the request (the snippet sends nothing then,
    analytics.js and RudderStack's SDK do not check)."""
    return request.headers.get("Sec-GPC", "").strip() == "1" or request.headers.get("DNT", "").strip() == "1"


def _batch_items(body: dict[str, Any]) -> tuple[list[object], bool]:
    """The event objects of a body and whether it was a batch; 400/413 for the whole request."""
    if "batch" not in body:
        return [body], False
    batch = body["batch"]
    if not isinstance(batch, list):
        raise ApiError(400, "batch must be an array", {"field": "batch"})
    if len(batch) > MAX_EVENTS:
        raise ApiError(413, f"Too many events: at most {MAX_EVENTS} per request.", {"events": len(batch)})
    return batch, True


def _ingest(
    request: HttpRequest,
    *,
    key_plain: str | None,
    body: dict[str, Any],
    raw: bytes,
    parse: Parser,
    sent_at_field: str,
) -> tuple[dict[str, Any], bool]:
    """Authorize, parse every item (bad ones rejected by index), ingest. Returns the answer and
    whether the request was a batch. A single event that is rejected is a 400."""
    items, is_batch = _batch_items(body)
    strings = json_strings_may_be_unstorable(raw)
    if is_batch:
        # What the whole batch shares (sent_at, context, the key): a problem there is the request's.
        shared = json_value_problem({k: v for k, v in body.items() if k != "batch"}, strings=strings)
        if shared:
            raise ApiError(400, f"The batch cannot be stored: {shared}.")
        try:
            instant_parse(body.get(sent_at_field), field_name=sent_at_field)
        except BadInstant as exc:
            # Every event would be refused for it: the request's problem, not each event's.
            raise ApiError(400, f"The batch cannot be stored: {exc}.", {"field": sent_at_field}) from None
    key, ip = ingest_authorize(request, plain_key=key_plain, body=body)
    received_at = timezone.now()
    rejected: list[dict[str, Any]] = []
    inputs: list[EventInput] = []
    positions: list[int] = []
    for index, item in enumerate(items):
        # NUL, lone surrogates and deep nesting cannot be stored: only this event is refused.
        problem = json_value_problem(item, strings=strings)
        if problem:
            rejected.append({"index": index, "error": problem})
            continue
        if len(raw) > MAX_EVENT_BYTES:
            size = len(json.dumps(item, separators=(",", ":")).encode())
            if size > MAX_EVENT_BYTES:
                rejected.append({"index": index, "error": f"event is larger than {MAX_EVENT_BYTES // 1024} KB"})
                continue
        try:
            inputs.append(parse(item))
            positions.append(index)
        except FieldError as exc:
            rejected.append({"index": index, "error": str(exc)})
    try:
        result = events_ingest(
            workspace=key.workspace,
            events=inputs,
            received_at=received_at,
            ip=ip,
            privacy_signal=privacy_signal(request),
        )
    except IngestRefused as exc:
        raise ApiError(exc.status, exc.message) from None
    except DatabaseError:
        # The append is one statement: it rolled back whole, so nothing of the request is stored and
        # sending it again stores each event once.
        logger.exception("ingest append failed")
        busy = "Storage is busy: send this request again shortly (events with message ids are never stored twice)."
        raise ApiError(503, busy, headers={"Retry-After": "1"}) from None
    rejected += [{"index": positions[r["index"]], "error": r["error"]} for r in result.rejected]
    rejected.sort(key=lambda r: r["index"])
    if not is_batch and rejected:
        status = 413 if rejected[0]["error"].startswith("event is larger than") else 400
        raise ApiError(status, rejected[0]["error"], {"rejected": rejected})
    answer = result.answer()
    answer["rejected"] = rejected
    answer["warnings"] = [{**w, "index": positions[w["index"]]} for w in result.warnings]
    return answer, is_batch


@csrf_exempt
def track(request: HttpRequest) -> HttpResponse:
    """`POST /api/track`: one event or `{"batch": [...], "sent_at": ...}`; 202 once stored."""
    if request.method == "OPTIONS":
        return _preflight(request, methods=TRACK_METHODS)
    try:
        if request.method != "POST":
            raise ApiError(405, "Use POST.", headers={"Allow": TRACK_METHODS})
        raw = body_read(request)
        body = json_object_load(raw)
        key_plain = request.headers.get("X-Clarm-Key") or body.get("key") or request.GET.get("key")
        sent_at = body.get("sent_at") if "batch" in body else None

        def parse(item: object) -> EventInput:
            return clarm_event_input(item, sent_at=sent_at)

        answer, _ = _ingest(request, key_plain=key_plain, body=body, raw=raw, parse=parse, sent_at_field="sent_at")
    except ApiError as exc:
        return error_response(exc, request, methods=TRACK_METHODS)
    return cors_apply(JsonResponse(answer, status=202), request, methods=TRACK_METHODS)


@csrf_exempt
def consent(request: HttpRequest) -> HttpResponse:
    """`GET /api/consent?key=…`: does this visitor need to be asked? From the workspace's consent
    mode and the country of the requester's IP; `gpc` when the browser sends `Sec-GPC: 1`."""
    if request.method == "OPTIONS":
        return _preflight(request, methods=CONSENT_METHODS)
    try:
        if request.method != "GET":
            raise ApiError(405, "Use GET.", headers={"Allow": CONSENT_METHODS})
        plain = request.GET.get("key") or request.headers.get("X-Clarm-Key")
        if not plain:
            raise ApiError(401, "Missing write key: send ?key=.")
        key = write_key_resolve(plain)
        if key is None:
            raise ApiError(401, "Unknown or revoked write key.")
        workspace = key.workspace
        if not origin_allowed(request.headers.get("Origin"), workspace):
            raise ApiError(403, "Origin not allowed for this workspace.", cors=False)
    except ApiError as exc:
        return error_response(exc, request, methods=CONSENT_METHODS)
    country = geo_lookup(client_ip(request)).country
    answer = {
        "consent_required": consent_required(mode=workspace.consent_mode, country=country),
        "mode": workspace.consent_mode,
        "gpc": privacy_signal(request),
    }
    response = cors_apply(JsonResponse(answer), request, methods=CONSENT_METHODS)
    response["Cache-Control"] = "private, max-age=300"
    return response


def _segment_error(exc: ApiError, request: HttpRequest) -> HttpResponse:
    # Segment SDKs read `code` and `message` from an error answer.
    code = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 413: "too_large", 429: "rate_limited"}
    return error_response(
        exc,
        request,
        methods=TRACK_METHODS,
        extra={"success": False, "code": code.get(exc.status, "error"), "message": exc.message},
    )


@csrf_exempt
def segment(request: HttpRequest, kind: str) -> HttpResponse:
    """Segment's HTTP Tracking API: `POST /v1/{track,identify,page,screen,group,alias,batch}`
    (and analytics.js' /v1/t, /v1/p, ...). Basic auth with the write key as user name, or
    `writeKey` in the body. Answers 200 `{"success": true}` as Segment does (its SDKs expect a
    200), with Clarm's counts alongside."""
    if request.method == "OPTIONS":
        return _preflight(request, methods=TRACK_METHODS)
    message_type = SHORT_PATHS.get(kind, kind)
    try:
        if message_type not in (*MESSAGE_TYPES, "batch"):
            raise ApiError(404, f"Unknown Segment call /v1/{kind}.")
        if request.method != "POST":
            raise ApiError(405, "Use POST.", headers={"Allow": TRACK_METHODS})
        raw = body_read(request)
        body = json_object_load(raw)
        key_plain = (
            basic_auth_user(request)
            or body.get("writeKey")
            or request.headers.get("X-Clarm-Key")
            or request.GET.get("key")
        )
        if message_type == "batch":
            if "batch" not in body:
                raise ApiError(400, "batch is required", {"field": "batch"})
            batch_context = body.get("context") if isinstance(body.get("context"), dict) else None
            sent_at = body.get("sentAt")

            def parse(item: object) -> EventInput:
                return segment_event_input(item, message_type=None, sent_at=sent_at, batch_context=batch_context)

        else:
            if "batch" in body:
                raise ApiError(400, f"/v1/{kind} takes one message; send batches to /v1/batch.")

            def parse(item: object) -> EventInput:
                return segment_event_input(item, message_type=message_type)

        answer, _ = _ingest(request, key_plain=key_plain, body=body, raw=raw, parse=parse, sent_at_field="sentAt")
    except ApiError as exc:
        return _segment_error(exc, request)
    return cors_apply(JsonResponse({"success": True, **answer}, status=200), request, methods=TRACK_METHODS)
