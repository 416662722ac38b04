"""A local HTTP server that stands in for a provider: records every request (method, path, query,
headers, body) and answers from a script (status, JSON body, headers), like the real API would."""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.script: list[Reply] = []
        self.default = Reply()
        # Optional routing: path prefix -> callable(seen) -> Reply.
        self.routes: dict[str, Callable[[Seen], Reply]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length).decode() if length else "",
                )
                outer.requests.append(seen)
                reply = outer.default
                for prefix, route in outer.routes.items():
                    if parts.path.startswith(prefix):
                        reply = route(seen)
                        break
                else:
                    if outer.script:
                        reply = outer.script.pop(0)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    api = FakeProvider()
    yield api
    api.stop()


@pytest.fixture(autouse=True)
def _private_destinations(settings):
    # The local provider servers listen on loopback: allowed only because tests say so.
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = True


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run a block and then its after-commit work, as production would (events_stitched, flushes)."""

    def run(fn: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn()

    return run


@pytest.fixture
def track(client, tenant, run_on_commit):
    """POST /api/track with the tenant's write key, after-commit work included."""

    def post(body: dict, key: str | None = None, **headers: Any):
        return run_on_commit(
            lambda: client.post(
                "/api/track",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_X_CLARM_KEY=key or tenant.write_key,
                REMOTE_ADDR="8.8.8.8",
                **headers,
            )
        )

    return post


@pytest.fixture
def api(client, tenant):
    """The destinations API with the tenant's secret key."""

    def call(method: str, path: str, body: Any = None, secret: str | None = None):
        kwargs: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {secret or tenant.secret_key}"}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(path, **kwargs)

    return call


@pytest.fixture(autouse=True)
def _fresh_memo():
    from integrations.destinations import dispatch
    from integrations.destinations.senders.crm.base import field_ids_forget

    dispatch._memo.clear()
    field_ids_forget()  # destination ids repeat across tests on SQLite
    yield
    dispatch._memo.clear()
    field_ids_forget()
