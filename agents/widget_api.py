"""The chat widget's public endpoints, authenticated with the write key like `POST /api/track`
(same key, region, Origin and rate checks, `tracking.http.ingest_authorize`), called from the
business's site:

- `GET /api/widget?key=…`: is the widget on, its colour and greeting (clarm.js asks once per page
  after consent, and loads static/clarm-widget.js only when it is on);
- `POST /api/widget/messages?key=…` `{"visitor_id", "session_id"?, "message_id", "body", "token"?}`:
  a visitor's message; the first one starts a chat and answers its token, once;
- `POST /api/widget/poll?key=…` `{"token", "after"}`: the chat's messages after id `after` and
  whether to ask for an email.

POST bodies are sent as `text/plain` JSON (no CORS preflight), the token in the body (never in a
URL). A browser sending Global Privacy Control or DNT gets no chat (403)."""

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from agents.models import Direction, Message, WidgetSession
from agents.selectors import widget_of, widget_session_get
from agents.selectors import widget_poll as poll_read
from agents.webchat import WidgetInputError, widget_message_receive, widget_replies_delivered, widget_session_seen
from tracking.http import (
    ApiError,
    body_read,
    cors_apply,
    error_response,
    ingest_authorize,
    json_object_load,
    json_value_problem,
)
from tracking.views import privacy_signal
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

GET_METHODS = "GET, OPTIONS"
POST_METHODS = "POST, OPTIONS"
# Message ids are bigints: a larger `after` is no message id.
MAX_MESSAGE_ID = 2**63 - 1


def _message_out(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "direction": message.direction,
        "body": message.body,
        "at": (message.sent_at or message.created_at).isoformat(),
        "from": ("visitor" if message.direction == Direction.IN else "agent" if message.agent else "team"),
    }


def _authorize(request: HttpRequest, *, methods: str, body: dict[str, Any]) -> Workspace:
    if request.method != methods.split(",")[0]:
        raise ApiError(405, f"Use {methods.split(',')[0]}.", headers={"Allow": methods})
    plain = request.GET.get("key") or request.headers.get("X-Clarm-Key")
    key, _ = ingest_authorize(request, plain_key=plain, body=body)
    if privacy_signal(request):
        raise ApiError(403, "This browser sends Global Privacy Control (or Do Not Track): the chat is off.")
    return key.workspace


def _answer(payload: dict[str, Any], request: HttpRequest, *, methods: str, status: int = 200) -> HttpResponse:
    response = cors_apply(JsonResponse(payload, status=status), request, methods=methods)
    response["Cache-Control"] = "no-store"
    return response


def _post_body(request: HttpRequest) -> dict[str, Any]:
    if request.method != "POST":
        return {}
    body = json_object_load(body_read(request))
    # NUL and lone surrogates cannot be stored (nor a surrogate hashed as a token): named, not a 500.
    if problem := json_value_problem(body):
        raise ApiError(400, f"The body cannot be stored: {problem}.")
    return body


def _session(workspace: Workspace, token: object) -> WidgetSession:
    session = widget_session_get(workspace=workspace, token=token)
    if session is None:
        raise ApiError(401, "Unknown chat token: start a new chat.")
    return session


@csrf_exempt
def widget_config(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return cors_apply(HttpResponse(status=204), request, methods=GET_METHODS)
    try:
        workspace = _authorize(request, methods=GET_METHODS, body={})
    except ApiError as exc:
        return error_response(exc, request, methods=GET_METHODS)
    widget = widget_of(workspace=workspace)
    answer: dict[str, Any] = {"enabled": widget.enabled}
    if widget.enabled:
        answer.update({"name": workspace.name, "color": widget.color, "greeting": widget.greeting})
    response = _answer(answer, request, methods=GET_METHODS)
    # Switching the widget on or off reaches visitors within a minute.
    response["Cache-Control"] = "private, max-age=60"
    return response


@csrf_exempt
def widget_message(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return cors_apply(HttpResponse(status=204), request, methods=POST_METHODS)
    try:
        body = _post_body(request)
        workspace = _authorize(request, methods=POST_METHODS, body=body)
        if not widget_of(workspace=workspace).enabled:
            raise ApiError(403, "The chat widget is switched off for this workspace.")
        session = _session(workspace, body["token"]) if body.get("token") is not None else None
        try:
            received = widget_message_receive(
                workspace=workspace,
                session=session,
                visitor_id=body.get("visitor_id"),
                session_id=body.get("session_id"),
                message_id=body.get("message_id"),
                body=body.get("body"),
            )
        except WidgetInputError as exc:
            raise ApiError(exc.status, str(exc)) from None
    except ApiError as exc:
        return error_response(exc, request, methods=POST_METHODS)
    answer: dict[str, Any] = {"message": _message_out(received.message)}
    if received.token:
        answer["token"] = received.token
    return _answer(answer, request, methods=POST_METHODS, status=201)


@csrf_exempt
def widget_poll(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return cors_apply(HttpResponse(status=204), request, methods=POST_METHODS)
    try:
        body = _post_body(request)
        workspace = _authorize(request, methods=POST_METHODS, body=body)
        session = _session(workspace, body.get("token"))
        after = body.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_MESSAGE_ID:
            raise ApiError(400, "after must be a message id (a whole number, 0 for all).")
    except ApiError as exc:
        return error_response(exc, request, methods=POST_METHODS)
    read = poll_read(session=session, after=after)
    widget_replies_delivered(messages=read.messages)
    widget_session_seen(session=session, now=timezone.now())
    answer = {"messages": [_message_out(m) for m in read.messages], "ask": read.ask}
    return _answer(answer, request, methods=POST_METHODS)
