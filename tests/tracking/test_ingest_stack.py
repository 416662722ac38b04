"""The WSGI application as served (clarm.wsgi): the ingest endpoints run through their own short
middleware stack (clarm.ingeststack), everything else through the full one. What an SDK, a server or
a browser page meets on each side."""

import base64
import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from clarm.ingeststack import IngestHandler, ingest_path
from clarm.wsgi import application
from tracking.models import Event

pytestmark = pytest.mark.usefixtures("wsgi_keeps_connection")


def _call(
    method: str, path: str, body: bytes = b"", query: str = "", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        HTTP_HOST="testserver",
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    )
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return seen["status"], seen["headers"], content


def test_the_ingest_paths_are_the_sdk_endpoints_only():
    assert ingest_path("/api/track") and ingest_path("/api/consent") and ingest_path("/v1/batch")
    assert not ingest_path("/api/customers") and not ingest_path("/api/track/") and not ingest_path("/customers/")
    names = [type(m).__name__ for m in _chain(IngestHandler())]
    assert "SessionMiddleware" not in names and "CSPMiddleware" not in names


def _chain(handler: IngestHandler) -> list[object]:
    middleware, current = [], handler._middleware_chain  # type: ignore[attr-defined]
    while hasattr(current, "get_response"):
        middleware.append(current)
        current = current.get_response
    return middleware


def test_an_event_posted_through_the_served_application_is_stored(tenant):
    body = json.dumps({"event": "page_view", "visitor_id": "wsgi-dev", "message_id": "wsgi-1"}).encode()
    status, headers, content = _call("POST", "/api/track", body, X_CLARM_KEY=tenant.write_key)
    assert status == 202, content
    assert json.loads(content)["accepted"] == 1
    assert Event.objects.filter(workspace=tenant.workspace, message_id="wsgi-1").exists()
    # No session, no cookie, no CSP: none of the page middleware ran; the security headers did.
    assert "Set-Cookie" not in headers and "Cookie" not in headers.get("Vary", "")
    assert "Content-Security-Policy" not in headers
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_segment_answers_keep_their_guards_on_the_short_stack(tenant):
    basic = "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    body = json.dumps({"event": "Viewed", "anonymousId": "seg-dev", "messageId": "seg-1"}).encode()
    status, headers, _ = _call("POST", "/v1/track", body, AUTHORIZATION=basic)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"  # answered to an Authorization header
    status, _, content = _call("POST", "/v1/track", body, query="x=%00", AUTHORIZATION=basic)
    assert status == 400 and json.loads(content)["code"] == "invalid_request"  # the NUL guard


def test_the_short_stack_routes_only_the_ingest_endpoints_and_answers_their_errors_as_json(tenant, monkeypatch):
    # Resolved against clarm.ingest_urls: an unknown Segment call is still Segment's JSON error...
    basic = "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    status, _, content = _call("POST", "/v1/unknown", b"{}", AUTHORIZATION=basic)
    assert status == 404 and json.loads(content)["success"] is False
    # ...and a bug in the view is the site's JSON 500, not an HTML page.
    from tracking import views

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "events_ingest", broken)
    body = json.dumps({"event": "page_view", "visitor_id": "wsgi-dev"}).encode()
    status, headers, content = _call("POST", "/api/track", body, X_CLARM_KEY=tenant.write_key)
    assert status == 500 and headers["Content-Type"] == "application/json"
    assert "error" in json.loads(content)


def test_pages_keep_the_full_stack(db):
    status, headers, _ = _call("GET", "/accounts/login/")
    assert status == 200
    assert "Content-Security-Policy" in headers and headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in headers.get("Set-Cookie", "")
