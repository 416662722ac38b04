"""What a client sees when a request fails inside the server.

Machine endpoints (`/api/`, `/v1/`, `/hooks/`) always answer JSON. When storage is unreachable
(PostgreSQL refused or dropped the connection, the Redis cache did not answer) the answer is 503
with Retry-After: SDKs and webhook providers retry those, and nothing was stored, so the retry is
safe (ingest dedupes by message id, webhooks by provider event id). Pages get a short 503 page."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from clarm.middleware import JSON_PREFIXES

RETRY_AFTER_SECONDS = 5
STORAGE_DOWN = "Storage is temporarily unavailable; nothing was stored. Send this request again shortly."
STORAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


def storage_unavailable(exc: BaseException | None) -> bool:
    """Is this exception (or one it was raised from) a storage outage rather than a bug?"""
    while exc is not None:
        if isinstance(exc, STORAGE_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def storage_down_response() -> JsonResponse:
    response = JsonResponse({"error": STORAGE_DOWN, "details": None}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _page(template: str, request: HttpRequest, status: int) -> HttpResponse:
    # No request context: its processors read the session and the user, from the storage that is
    # down. The request itself is passed for its CSP nonce.
    return HttpResponse(loader.render_to_string(template, {"request": request}), status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it inside the `except` block, so the exception is sys.exc_info()."""
    down = storage_unavailable(sys.exc_info()[1])
    if request.path.startswith(JSON_PREFIXES):
        if down:
            return storage_down_response()
        return JsonResponse({"error": "Internal server error; it was logged.", "details": None}, status=500)
    if down:
        response = _page("503.html", request, 503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return _page("500.html", request, 500)
