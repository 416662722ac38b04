"""OpenAPI description of the ingest endpoints, which are plain Django views (drf-spectacular only
sees DRF views): `POST /api/track`, `GET /api/consent`, Segment's `POST /v1/*`, and their CORS
preflights. `ingest_paths_add` is a drf-spectacular postprocessing hook (settings) that adds them to
the generated schema. Limits come from the code that enforces them."""

from typing import Any

from tracking.http import ALLOW_HEADERS, MAX_BODY_BYTES, MAX_EVENT_BYTES, MAX_EVENTS
from tracking.inputs import SOURCES
from tracking.segment import MESSAGE_TYPES, SHORT_PATHS
from tracking.services import MAX_EVENT_NAME, MAX_MESSAGE_ID, MAX_PROPERTIES, MAX_SESSION_ID

_REF = "#/components/schemas/"
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601"}
_OBJECT = {"type": "object", "additionalProperties": True}
_BAG = {**_OBJECT, "maxProperties": MAX_PROPERTIES}
WRITE_KEY_SECURITY: list[dict[str, list[str]]] = [{"writeKey": []}, {"writeKeyQuery": []}]
SEGMENT_SECURITY: list[dict[str, list[str]]] = [{"writeKeyBasic": []}, {"writeKey": []}, {"writeKeyQuery": []}]


def _field(**string: Any) -> dict[str, Any]:
    """An optional field of a Clarm event named as a string: a string, a whole number, or null (absent)."""
    return {"anyOf": [{"type": "string", **string}, {"type": "integer"}], "nullable": True}


_FIELD = _field()


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


SECURITY_SCHEMES: dict[str, Any] = {
    "writeKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Clarm-Key",
        "description": "A workspace write key (wk_…). Also accepted in the body (`key`, Segment's `writeKey`).",
    },
    "writeKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": "The write key in the query string (for sendBeacon and image requests).",
    },
    "writeKeyBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Segment's scheme: the write key as the user name, an empty password.",
    },
}

_INDEXED_ERROR = {
    "type": "object",
    "required": ["index", "error"],
    "properties": {"index": {"type": "integer", "minimum": 0}, "error": _TEXT},
}
_WARNING = {
    "type": "object",
    "required": ["index", "field", "warning"],
    "properties": {
        "index": {"type": "integer", "minimum": 0},
        "field": {**_TEXT, "description": "visitor_id, user_id, email, phone or external:<namespace>"},
        "warning": {**_TEXT, "description": "e.g. longer than 200 characters: not used as an identifier"},
    },
}
_COUNT = {"type": "integer", "minimum": 0}

SCHEMAS: dict[str, Any] = {
    "IngestError": {
        "type": "object",
        "required": ["error", "details"],
        "properties": {
            "error": {**_TEXT, "description": "What is wrong, in words"},
            "details": {"nullable": True, "description": "More about it (a field, a size, the rejected events)"},
        },
    },
    "SegmentError": {
        "allOf": [
            schema_ref("IngestError"),
            {
                "type": "object",
                "required": ["success", "code", "message"],
                "properties": {
                    "success": {"type": "boolean", "enum": [False]},
                    "code": {
                        **_TEXT,
                        "description": "invalid_request, unauthorized, forbidden, too_large, rate_limited or error",
                    },
                    "message": {**_TEXT, "description": "The same as `error` (Segment SDKs read it)"},
                },
            },
        ]
    },
    "IngestAnswer": {
        "type": "object",
        "required": ["accepted", "duplicates", "suppressed", "rejected", "warnings"],
        "properties": {
            "accepted": {**_COUNT, "description": "Events stored by this request"},
            "duplicates": {**_COUNT, "description": "Events whose message id was already stored (kept once)"},
            "suppressed": {**_COUNT, "description": "Events of a person who opted out of analytics (not stored)"},
            "rejected": {
                "type": "array",
                "items": _INDEXED_ERROR,
                "description": "Events refused, by their index in the request; the others are stored",
            },
            "warnings": {
                "type": "array",
                "items": _WARNING,
                "description": "Values of stored events that were not used as identifiers, and why",
            },
        },
    },
    "SegmentAnswer": {
        "allOf": [
            schema_ref("IngestAnswer"),
            {"type": "object", "required": ["success"], "properties": {"success": {"type": "boolean", "enum": [True]}}},
        ]
    },
    "TrackEvent": {
        "type": "object",
        "required": ["event"],
        "description": f"One event; at most {MAX_EVENT_BYTES // 1024} KB as JSON. Fields named as strings also "
        "take whole numbers.",
        "properties": {
            "event": {**_TEXT, "minLength": 1, "maxLength": MAX_EVENT_NAME, "description": "The event's name"},
            "properties": {**_BAG, "nullable": True, "description": "Free-form; contact details are stored masked"},
            "visitor_id": {**_FIELD, "description": "The device id (ids over 200 characters are not used)"},
            "session_id": _field(maxLength=MAX_SESSION_ID),
            "message_id": {**_field(maxLength=MAX_MESSAGE_ID), "description": "Dedupe key, stored once"},
            "timestamp": {**_TIME, "nullable": True},
            "sent_at": {**_TIME, "nullable": True},
            "url": _FIELD,
            "referrer": _FIELD,
            "user_agent": _FIELD,
            "email": _FIELD,
            "phone": _FIELD,
            "user_id": _FIELD,
            "external_ids": {**_OBJECT, "nullable": True, "description": 'Namespaced ids, e.g. {"stripe": "cus_123"}'},
            "traits": {**_BAG, "nullable": True},
            "context": {**_OBJECT, "nullable": True},
            "source": {**_TEXT, "enum": sorted(SOURCES), "nullable": True},
            "key": {**_TEXT, "description": "The write key, when not in the header or query"},
            "workspace": {**_TEXT, "description": "The workspace's slug or id; 403 when it is not the key's"},
        },
    },
    "TrackBatch": {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {
                "type": "array",
                "maxItems": MAX_EVENTS,
                "items": {
                    "type": "object",
                    "description": "Each item is a TrackEvent. An item that does not match it is refused on its "
                    "own (its index and the reason in the answer's `rejected`); the other items are stored.",
                },
            },
            "sent_at": _TIME,
            "key": _TEXT,
            "workspace": _TEXT,
        },
    },
    "ConsentAnswer": {
        "type": "object",
        "required": ["consent_required", "mode", "gpc"],
        "properties": {
            "consent_required": {"type": "boolean"},
            "mode": {**_TEXT, "enum": ["eu_only", "always", "never"]},
            "gpc": {"type": "boolean", "description": "The browser sent Sec-GPC: 1"},
        },
    },
}

# An id a message must carry: an empty one is read as none.
_ID = {**_TEXT, "minLength": 1}
_SEGMENT_COMMON: dict[str, Any] = {
    # An empty id is read as none (SDKs may send `"userId": ""` for an anonymous visitor): a message
    # with an empty userId and an anonymousId is stored. Which id a message needs is said per type.
    "userId": {**_TEXT, "description": "The user's id; empty is read as none"},
    "anonymousId": {**_TEXT, "description": "The device's id; empty is read as none"},
    "messageId": {**_TEXT, "maxLength": MAX_MESSAGE_ID},
    "timestamp": _TIME,
    "originalTimestamp": _TIME,
    "sentAt": _TIME,
    "context": {**_OBJECT, "description": "page, userAgent, ip (never stored), campaign, traits, sessionId, …"},
    "integrations": {**_OBJECT, "description": "Ignored"},
    "writeKey": {**_TEXT, "description": "The write key, when not in Basic auth"},
}
_SEGMENT_TYPES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "track": ({"event": _ID, "properties": _BAG}, ["event"]),
    "identify": ({"traits": _BAG}, []),
    "page": ({"name": _TEXT, "category": _TEXT, "properties": _BAG}, []),
    "screen": ({"name": _TEXT, "category": _TEXT, "properties": _BAG}, []),
    "group": ({"groupId": _ID, "traits": _BAG}, ["groupId"]),
    "alias": ({"previousId": _ID, "userId": _ID}, ["previousId", "userId"]),
}


def _segment_message(kind: str, *, in_batch: bool) -> dict[str, Any]:
    fields, required = _SEGMENT_TYPES[kind]
    properties = {**_SEGMENT_COMMON, **fields}
    if in_batch:
        properties["type"] = {**_TEXT, "enum": [kind]}
        required = ["type", *required]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if kind != "alias":
        schema["anyOf"] = [
            {"required": ["userId"], "properties": {"userId": _ID}},
            {"required": ["anonymousId"], "properties": {"anonymousId": _ID}},
        ]
        schema["description"] = "userId or anonymousId is required"
    if not required:
        del schema["required"]
    return schema


for _kind in MESSAGE_TYPES:
    SCHEMAS[f"Segment{_kind.title()}"] = _segment_message(_kind, in_batch=False)
    SCHEMAS[f"SegmentBatch{_kind.title()}"] = _segment_message(_kind, in_batch=True)
SCHEMAS["SegmentBatch"] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {
            "type": "array",
            "maxItems": MAX_EVENTS,
            "items": {"oneOf": [schema_ref(f"SegmentBatch{k.title()}") for k in MESSAGE_TYPES]},
        },
        "sentAt": _TIME,
        "context": {**_OBJECT, "description": "Applies to every message"},
        "writeKey": _TEXT,
    },
}


def json_answer(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


RETRY_AFTER_HEADER = {"Retry-After": {"required": True, "schema": {"type": "integer"}, "description": "Seconds"}}


def _errors(schema: dict[str, Any]) -> dict[str, Any]:
    size = MAX_BODY_BYTES // 1024
    return {
        "400": json_answer(
            schema,
            "Malformed JSON, a body that is not an object, bad gzip (named: truncated, trailing bytes), a `batch` that "
            "is not an array, a batch-level sent_at/sentAt that is not ISO 8601, a NUL in the query string, "
            "or the single event of the request refused (its field named, e.g. `properties has 1001 "
            "keys; at most 1000 per event`)",
        ),
        "401": json_answer(schema, "Missing, unknown or revoked write key"),
        "403": json_answer(
            schema,
            "The workspace lives in another region; the body names another workspace; the Origin is not allowed "
            "(then without CORS headers)",
        ),
        "413": json_answer(
            schema,
            f"Body over {size} KB (also once decompressed), more than {MAX_EVENTS} events, or the single event over "
            f"{MAX_EVENT_BYTES // 1024} KB",
        ),
        "415": json_answer(schema, "A Content-Encoding other than gzip, deflate or identity"),
        "429": json_answer(schema, "Too many requests for this key and client", RETRY_AFTER_HEADER),
        "503": json_answer(schema, "Storage is unavailable: send the same request again (message ids are stored once)"),
    }


_BODY_TYPES = ("application/json", "text/plain")
# clarm.middleware.RejectNulMiddleware answers any URL this way, before the view.
NUL_IN_URL = "A NUL character in the path or the query string"


def request_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description + " Sent as application/json or text/plain (sendBeacon); may be gzipped "
        "(Content-Encoding: gzip).",
        "content": {media: {"schema": schema} for media in _BODY_TYPES},
    }


def preflight_operation(tag: str) -> dict[str, Any]:
    return {
        "operationId": f"{tag}_preflight",
        "summary": "CORS preflight",
        "description": f"Allows the headers `{ALLOW_HEADERS}`. With `?key=`, an Origin the workspace does not "
        "allow is a 403.",
        "tags": ["ingest"],
        "security": [],
        "parameters": [{"in": "query", "name": "key", "schema": _TEXT, "required": False}],
        "responses": {
            "204": {"description": "Allowed: Access-Control-Allow-* headers echo the Origin"},
            "400": json_answer(schema_ref("IngestError"), NUL_IN_URL),
            "403": json_answer(schema_ref("IngestError"), "The Origin is not in the workspace's allowed origins"),
        },
    }


def _track_paths() -> dict[str, Any]:
    return {
        "/api/track": {
            "post": {
                "operationId": "track",
                "summary": "Send one event or a batch (the snippet's API)",
                "description": "Answers 202 once the events are durably stored. A batch keeps its good events and "
                "names the bad ones in `rejected`; a request of one event that is refused is a 400.",
                "tags": ["ingest"],
                "security": WRITE_KEY_SECURITY,
                "requestBody": request_body(
                    {"oneOf": [schema_ref("TrackEvent"), schema_ref("TrackBatch")]},
                    f'One event, or {{"batch": [...]}} of at most {MAX_EVENTS}.',
                ),
                "responses": {
                    "202": json_answer(schema_ref("IngestAnswer"), "Stored"),
                    **_errors(schema_ref("IngestError")),
                },
            },
            "options": preflight_operation("track"),
        },
        "/api/consent": {
            "get": {
                "operationId": "consent",
                "summary": "Does this visitor need to be asked for consent?",
                "description": "From the workspace's consent mode and the country of the requester's IP.",
                "tags": ["ingest"],
                "security": WRITE_KEY_SECURITY,
                "responses": {
                    "200": json_answer(schema_ref("ConsentAnswer"), "The answer (cacheable privately for 5 minutes)"),
                    "400": json_answer(schema_ref("IngestError"), NUL_IN_URL),
                    "401": json_answer(schema_ref("IngestError"), "Missing, unknown or revoked write key"),
                    "403": json_answer(schema_ref("IngestError"), "The Origin is not allowed (without CORS headers)"),
                },
            },
            "options": preflight_operation("consent"),
        },
    }


def _segment_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    short = {long: letter for letter, long in SHORT_PATHS.items()}
    for kind in (*MESSAGE_TYPES, "batch"):
        schema = schema_ref("SegmentBatch" if kind == "batch" else f"Segment{kind.title()}")
        for path_kind in (kind, short[kind]):
            alias = path_kind != kind
            paths[f"/v1/{path_kind}"] = {
                "post": {
                    "operationId": f"segment_{kind}" + ("_short" if alias else ""),
                    "summary": f"Segment HTTP Tracking API: {kind}"
                    + (f" (analytics.js' /v1/{path_kind})" if alias else ""),
                    "description": "Segment's spec (also what RudderStack SDKs send). Answers 200 as Segment does, "
                    "with Clarm's counts alongside.",
                    "tags": ["segment"],
                    "security": SEGMENT_SECURITY,
                    "requestBody": request_body(
                        schema, f"A {kind} message." if kind != "batch" else "A batch of messages."
                    ),
                    "responses": {
                        "200": json_answer(schema_ref("SegmentAnswer"), "Stored"),
                        **_errors(schema_ref("SegmentError")),
                    },
                },
                "options": preflight_operation(f"segment_{path_kind}"),
            }
    return paths


def ingest_paths_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the ingest endpoints, their schemas and key schemes."""
    result.setdefault("paths", {}).update(_track_paths())
    result["paths"].update(_segment_paths())
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
