import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from enrichment.moments import HighIntentVisitor, high_intent_visitor_subscribe, high_intent_visitor_unsubscribe
from tracking import network
from tracking.writekeys import write_keys_forget

PORTS = range(7800, 7900)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class ProviderServer:
    """A provider's API on 127.0.0.1: records each request, answers with `respond(seen)` → (status, body)."""

    url: str
    requests: list[Seen] = field(default_factory=list)
    respond: Callable[[Seen], tuple[int, Any]] = lambda seen: (404, {"error": "no match"})


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    holder: dict[str, ProviderServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            seen = Seen(
                self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}
            )
            server = holder["server"]
            server.requests.append(seen)
            status, body = server.respond(seen)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = None
    for port in PORTS:
        try:
            httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    assert httpd is not None, "no free port in 7800-7899"
    holder["server"] = ProviderServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    write_keys_forget()
    network._salts.clear()
    yield
    write_keys_forget()
    network._salts.clear()


@pytest.fixture
def post_track(client, tenant, django_capture_on_commit_callbacks):
    """POST /api/track from `ip`, running the after-commit work (enrichment, eager) as production would."""

    def post(body, *, ip="193.99.144.80", key=None, **headers):
        meta = {"REMOTE_ADDR": ip, "HTTP_X_CLARM_KEY": key or tenant.write_key, **headers}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/track", data=json.dumps(body), content_type="application/json", **meta)
        assert response.status_code == 202, response.content
        return response

    return post


@pytest.fixture
def moments() -> Iterator[list[HighIntentVisitor]]:
    """The high_intent_visitor moments published during the test."""
    seen: list[HighIntentVisitor] = []
    high_intent_visitor_subscribe(seen.append)
    yield seen
    high_intent_visitor_unsubscribe(seen.append)
