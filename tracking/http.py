"""HTTP plumbing of the ingest endpoints: bounded body reading (gzip too), JSON, CORS, the checks
every ingest request passes (key, region, workspace, origin, rate) and error answers."""

import base64
import binascii
import json
import math
import re
import sys
import zlib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from clarm.clientip import client_ip
from tracking.network import ip_hash
from tracking.ratelimit import rate_limit_check
from tracking.writekeys import write_key_resolve, write_key_touch
from workspaces.models import ApiKey, Workspace

MAX_BODY_BYTES = 500 * 1024
MAX_EVENTS = 500
MAX_EVENT_BYTES = 32 * 1024
# Objects and arrays inside one event: deeper than this is refused (no real event is this deep).
MAX_DEPTH = 32
# What the snippet and the real browser SDKs send. analytics.js (analytics-next) posts text/plain
# without custom headers; the RudderStack JS SDK v3 sends Basic auth, `AnonymousId` (for ordering),
# `SentAt`, and on a retry or a delivery recovered from storage its `Rsa-*` headers.
ALLOW_HEADERS = ", ".join(
    (
        "Content-Type",
        "X-Clarm-Key",
        "Content-Encoding",
        "Authorization",
        "AnonymousId",
        "SentAt",
        "Rsa-Recovered",
        "Rsa-Retry-Attempt",
        "Rsa-Retry-Reason",
        "Rsa-Since-First-Attempt",
        "Rsa-Since-Last-Attempt",
    )
)
PREFLIGHT_MAX_AGE = "86400"


class ApiError(Exception):
    """A whole request refused: `{"error": message, "details": details}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Any = None,
        *,
        headers: dict[str, str] | None = None,
        cors: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        # False when the origin itself is refused: the browser must not read the answer.
        self.cors = cors


def body_read(request: HttpRequest) -> bytes:
    """The request body, decompressed when `Content-Encoding: gzip`, at most 500 KB either way."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.", {"bytes": declared})
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body is larger than {MAX_BODY_BYTES // 1024} KB.")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    try:
        body = inflater.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise ApiError(400, f"The body is not valid {encoding} data.", str(exc)) from None
    if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise ApiError(413, f"The decompressed request body is larger than {MAX_BODY_BYTES // 1024} KB.")
    # zlib hands back what it could inflate of a cut stream without a word: without this check a
    # truncated body reaches the JSON parser and is answered "Malformed JSON".
    name = "gzip" if encoding in ("gzip", "x-gzip") else encoding
    if not inflater.eof:
        raise ApiError(400, f"The {name} body is truncated: it ends before the end of the {name} data.")
    if inflater.unused_data:
        raise ApiError(400, f"The {name} body has {len(inflater.unused_data)} bytes after the end of the {name} data.")
    return body


class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and PostgreSQL's jsonb) does not."""


def _constant_refuse(name: str) -> Any:
    raise _NotJson(name)


def _float_finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _NotJson(f"{text[:20]} (out of range)")
    return number


def json_object_load(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise ApiError(400, "The request body is empty; send a JSON object.")
    try:
        body = json.loads(raw, parse_constant=_constant_refuse, parse_float=_float_finite)
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "Malformed JSON.", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except _NotJson as exc:
        raise ApiError(400, f"The body contains {exc}, which is not a JSON number; send a finite number.") from None
    except RecursionError:
        raise ApiError(400, f"The body is nested too deeply (at most {MAX_DEPTH} levels per event).") from None
    except ValueError:
        # int() refuses more digits than sys.get_int_max_str_digits() (4300 by default).
        digits = sys.get_int_max_str_digits()
        raise ApiError(400, f"The body contains an integer with more than {digits} digits.") from None
    if not isinstance(body, dict):
        raise ApiError(400, 'The body must be a JSON object (one event, or {"batch": [...]}).')
    return body


# NUL cannot be stored in PostgreSQL text or jsonb; a lone UTF-16 surrogate cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000)"
    return "contains an unpaired UTF-16 surrogate"


def _path_name(path: str, key: object) -> str:
    name = _UNSTORABLE.sub("?", str(key))[:40]
    return f"{path}.{name}" if path else name


# What in a body's bytes can put NUL or a lone surrogate into a string json.loads reads from it: a
# \u escape, or a surrogate encoded in UTF-8 (json decodes bytes with "surrogatepass"). Raw control
# characters inside strings are refused by the parser itself.
_UNSTORABLE_SOURCE = re.compile(rb"\\u|\xed[\xa0-\xbf]")


def json_strings_may_be_unstorable(raw: bytes) -> bool:
    """Whether the strings json_object_load reads from `raw` need json_value_problem's check: False
    when no string of it can hold NUL or a lone surrogate (UTF-8 text without the bytes above), so
    only nesting is left to check. UTF-16 and UTF-32 bodies (a zero byte or a BOM up front) are checked."""
    head = raw[:4]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    return _UNSTORABLE_SOURCE.search(raw) is not None


def _problem_found(value: object, max_depth: int, strings: bool) -> bool:
    """json_value_problem's question without naming the place (no path is built): most values have no
    problem, and only a value that has one is walked again to say where."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, str):
            if _UNSTORABLE.search(current):
                return True
        elif isinstance(current, dict | list):
            if depth >= max_depth:
                return True
            items = current.values() if isinstance(current, dict) else current
            if strings:
                if isinstance(current, dict) and any(_UNSTORABLE.search(key) for key in current):
                    return True
                stack.extend((item, depth + 1) for item in items)
            else:
                stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


def json_value_problem(value: object, *, max_depth: int = MAX_DEPTH, strings: bool = True) -> str | None:
    """Why a decoded JSON value cannot be stored, naming where (`properties.note contains a NUL
    character`), or None. Walks without recursion, so any depth json.loads accepted is safe here.
    `strings=False` (json_strings_may_be_unstorable said no string of the body can hold NUL or a
    lone surrogate) checks the nesting only."""
    if not _problem_found(value, max_depth, strings):
        return None
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        current, depth, path = stack.pop()
        if isinstance(current, str):
            problem = _unstorable(current)
            if problem:
                return f"{path or 'the value'} {problem}"
        elif isinstance(current, dict | list):
            if depth >= max_depth:
                return f"{path or 'the value'} is nested deeper than {max_depth} levels"
            if isinstance(current, dict):
                for key, item in current.items():
                    problem = _unstorable(key)
                    if problem:
                        return f"a key in {path or 'the event'} {problem}"
                    stack.append((item, depth + 1, _path_name(path, key)))
            else:
                stack.extend((item, depth + 1, f"{path or 'the value'}[{i}]") for i, item in enumerate(current))
    return None


def basic_auth_user(request: HttpRequest) -> str | None:
    """The user name of `Authorization: Basic …` (Segment's write key, with an empty password)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, ValueError):  # ValueError: not ASCII, or not UTF-8 once decoded
        return None
    return decoded.partition(":")[0] or None


def origin_normalize(origin: str) -> str:
    parts = urlsplit(origin.strip().rstrip("/"))
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(origin: str | None, workspace: Workspace | None) -> bool:
    """No Origin (a server), no workspace known yet, or an empty allow list: allowed."""
    if not origin or workspace is None or not workspace.allowed_origins:
        return True
    wanted = origin_normalize(origin)
    return any(isinstance(o, str) and origin_normalize(o) == wanted for o in workspace.allowed_origins)


def cors_apply(response: HttpResponse, request: HttpRequest, *, methods: str) -> HttpResponse:
    origin = request.headers.get("Origin")
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
        if request.method == "OPTIONS":
            response["Access-Control-Allow-Methods"] = methods
            response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def error_response(
    exc: ApiError, request: HttpRequest, *, methods: str, extra: dict[str, Any] | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"error": exc.message, "details": exc.details}
    if extra:
        body.update(extra)
    response = JsonResponse(body, status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    if exc.cors:
        cors_apply(response, request, methods=methods)
    return response


def ingest_authorize(request: HttpRequest, *, plain_key: str | None, body: dict[str, Any]) -> tuple[ApiKey, str | None]:
    """The checks before anything is stored, in order: key (401), region (403), the workspace the
    body names (403), Origin (403), rate (429). Returns the key and the client IP."""
    if not plain_key or not isinstance(plain_key, str):
        raise ApiError(401, "Missing write key: send it in the X-Clarm-Key header, the `key` field or ?key=.")
    key = write_key_resolve(plain_key.strip())
    if key is None:
        raise ApiError(401, "Unknown or revoked write key.")
    workspace = key.workspace
    if workspace.region != settings.CLARM_REGION:
        raise ApiError(
            403, f"This workspace's data lives in region {workspace.region}; send to that region's endpoint."
        )
    named = body.get("workspace")
    if named is not None and str(named) not in (workspace.slug, str(workspace.pk)):
        raise ApiError(403, "This write key belongs to another workspace than the one the body names.")
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, workspace):
        raise ApiError(403, f"Origin {origin} is not allowed to send events to this workspace.", cors=False)
    ip = client_ip(request)
    client = ip_hash(ip, workspace_id=workspace.pk)[:32] if ip else "noip"
    retry_after = rate_limit_check(key_id=key.pk, client=client)
    if retry_after is not None:
        raise ApiError(
            429,
            f"Too many requests: at most {settings.CLARM_RATE_LIMIT_PER_MINUTE} a minute per key and client.",
            {"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
    write_key_touch(key)
    return key, ip
