"""The ingest endpoints' own, short middleware stack.

`/api/track`, `/api/consent` and Segment's `/v1/*` are called by SDKs and servers, never by a signed-in
person's browser page: they use no session, no CSRF token (write keys authenticate them), no user,
no messages, no workspace switcher and render no HTML (so no CSP nonce or frame options). The full
stack costs about a fifth of the CPU of a single-event request, so the WSGI application routes these
paths to a second Django handler with only the middleware that applies to them: HTTPS and security
headers, the NUL guard, and `no-store` for answers to an `Authorization` header, and which resolves
them against a URL conf of their routes only (clarm.ingest_urls). Everything else (views, error
handlers, the JSON 503 when storage is down) is the same Django.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponseBase

INGEST_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "clarm.middleware.RejectNulMiddleware",
    "clarm.middleware.NoStoreMiddleware",
)
INGEST_URLCONF = "clarm.ingest_urls"
INGEST_PATHS = frozenset({"/api/track", "/api/consent"})
INGEST_PREFIX = "/v1/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def ingest_path(path: str) -> bool:
    return path in INGEST_PATHS or path.startswith(INGEST_PREFIX)


class IngestHandler(WSGIHandler):
    """Django's WSGI handler with INGEST_MIDDLEWARE instead of settings.MIDDLEWARE, and INGEST_URLCONF."""

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        request.urlconf = INGEST_URLCONF  # type: ignore[attr-defined]  # Django resolves (and reverses) with it
        return super().get_response(request)

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware reads settings.MIDDLEWARE; swap it for the time it takes (once,
        # when the process starts) rather than copy Django's loader.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = list(INGEST_MIDDLEWARE)
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def ingest_routed(full: WSGIApp) -> WSGIApp:
    """The WSGI application: ingest paths through IngestHandler, everything else through `full`."""
    ingest = IngestHandler()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = ingest if ingest_path(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application
