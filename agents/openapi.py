"""OpenAPI description of the chat widget's public endpoints (agents.widget_api: plain Django views,
which drf-spectacular does not see): `GET /api/widget`, `POST /api/widget/messages`,
`POST /api/widget/poll` and their CORS preflights. `widget_paths_add` is a drf-spectacular
postprocessing hook (settings), after tracking.openapi's, whose schemas and key schemes it reuses.
Limits come from the code that enforces them."""

from typing import Any

from agents.selectors import WIDGET_POLL_LIMIT
from agents.webchat import CLIENT_ID, MAX_BODY
from tracking.http import MAX_BODY_BYTES
from tracking.openapi import (
    NUL_IN_URL,
    RETRY_AFTER_HEADER,
    WRITE_KEY_SECURITY,
    json_answer,
    preflight_operation,
    request_body,
    schema_ref,
)

_TEXT = {"type": "string"}
_CLIENT_ID = {**_TEXT, "pattern": CLIENT_ID.pattern, "description": "The snippet's id: 8-64 of A-Z a-z 0-9 _ -"}
_TOKEN = {**_TEXT, "minLength": 16, "maxLength": 64, "description": "The chat's token, answered with its first message"}

SCHEMAS: dict[str, Any] = {
    "WidgetConfig": {
        "type": "object",
        "required": ["enabled"],
        "properties": {
            "enabled": {"type": "boolean"},
            "name": {**_TEXT, "description": "The workspace's name (when enabled)"},
            "color": {**_TEXT, "pattern": "^#[0-9a-f]{6}$"},
            "greeting": _TEXT,
        },
    },
    "WidgetMessage": {
        "type": "object",
        "required": ["id", "direction", "body", "at", "from"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "direction": {**_TEXT, "enum": ["in", "out"]},
            "body": _TEXT,
            "at": {**_TEXT, "format": "date-time"},
            "from": {**_TEXT, "enum": ["visitor", "agent", "team"]},
        },
    },
    "WidgetMessageIn": {
        "type": "object",
        "required": ["visitor_id", "message_id", "body"],
        "properties": {
            "visitor_id": _CLIENT_ID,
            "session_id": {**_CLIENT_ID, "description": "The snippet's session id (ignored when not id-shaped)"},
            "message_id": {**_CLIENT_ID, "description": "Makes a retry of the same message a no-op"},
            "body": {**_TEXT, "minLength": 1, "maxLength": MAX_BODY, "description": "Not blank"},
            "token": _TOKEN,
        },
    },
    "WidgetMessageAnswer": {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": schema_ref("WidgetMessage"),
            "token": {**_TOKEN, "description": "Only when this message started the chat: keep it (given once)"},
        },
    },
    "WidgetPollIn": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": _TOKEN,
            "after": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**63 - 1,
                "description": "The last message id the widget has (0 or absent: all of the chat's)",
            },
        },
    },
    "WidgetPollAnswer": {
        "type": "object",
        "required": ["messages", "ask"],
        "properties": {
            "messages": {"type": "array", "maxItems": WIDGET_POLL_LIMIT, "items": schema_ref("WidgetMessage")},
            "ask": {**_TEXT, "enum": ["email"], "nullable": True, "description": "email: ask the visitor for one"},
        },
    },
}


def _errors(*, body: bool) -> dict[str, Any]:
    error = schema_ref("IngestError")
    answers: dict[str, Any] = {
        "400": json_answer(error, NUL_IN_URL + (", malformed JSON or gzip, or a field named as wrong" if body else "")),
        "401": json_answer(error, "Missing, unknown or revoked write key" + ("; unknown chat token" if body else "")),
        "403": json_answer(
            error,
            "The workspace lives in another region; the Origin is not allowed (then without CORS headers); "
            "the browser sends Global Privacy Control or Do Not Track"
            + ("; the widget is switched off; the visitor opted out of tracking" if body else ""),
        ),
        "429": json_answer(error, "Too many requests for this key and client", RETRY_AFTER_HEADER),
        "503": json_answer(error, "Storage is unavailable: send the same request again", RETRY_AFTER_HEADER),
    }
    if body:
        answers["413"] = json_answer(error, f"Body over {MAX_BODY_BYTES // 1024} KB (also once decompressed)")
        answers["415"] = json_answer(error, "A Content-Encoding other than gzip, deflate or identity")
    return answers


def _preflight(name: str) -> dict[str, Any]:
    return {**preflight_operation(name), "tags": ["widget"]}


def _paths() -> dict[str, Any]:
    return {
        "/api/widget": {
            "get": {
                "operationId": "widget_config",
                "summary": "Is the chat widget on, and how it looks",
                "description": "clarm.js asks once per page after consent; cacheable privately for a minute.",
                "tags": ["widget"],
                "security": WRITE_KEY_SECURITY,
                "responses": {"200": json_answer(schema_ref("WidgetConfig"), "The settings"), **_errors(body=False)},
            },
            "options": _preflight("widget_config"),
        },
        "/api/widget/messages": {
            "post": {
                "operationId": "widget_message",
                "summary": "A visitor's message from the chat widget",
                "description": "Logged as `message_sent` on the visitor's timeline and stored in the Inbox. The first "
                "message (no token) starts a chat and answers its token, once.",
                "tags": ["widget"],
                "security": WRITE_KEY_SECURITY,
                "requestBody": request_body(schema_ref("WidgetMessageIn"), "The message."),
                "responses": {
                    "201": json_answer(schema_ref("WidgetMessageAnswer"), "Stored"),
                    **_errors(body=True),
                },
            },
            "options": _preflight("widget_message"),
        },
        "/api/widget/poll": {
            "post": {
                "operationId": "widget_poll",
                "summary": "The chat's messages after a message id",
                "description": f"At most {WIDGET_POLL_LIMIT} per answer, oldest first; the token in the body "
                "(never in a URL).",
                "tags": ["widget"],
                "security": WRITE_KEY_SECURITY,
                "requestBody": request_body(schema_ref("WidgetPollIn"), "The chat's token."),
                "responses": {"200": json_answer(schema_ref("WidgetPollAnswer"), "Messages"), **_errors(body=True)},
            },
            "options": _preflight("widget_poll"),
        },
    }


def widget_paths_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the chat widget's endpoints and schemas."""
    result.setdefault("paths", {}).update(_paths())
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
