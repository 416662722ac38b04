import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from clarm.celery_app import app
from clarm.publish import broker_pause_forget
from tracking.writekeys import write_keys_forget


def free_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def raw_client() -> Client:
    """A client that gets the answer a real client would get, instead of the view's exception."""
    return Client(raise_request_exception=False)


@pytest.fixture
def database_down(transactional_db) -> Iterator[None]:
    """PostgreSQL unreachable for the rest of the test (a closed port), back afterwards; the
    process's cached write keys dropped, as on a freshly started web process."""
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    write_keys_forget()
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
        write_keys_forget()


class Blackhole:
    """A broker that accepts connections and never answers (a host that lost its disk, a stuck
    proxy): the worst case for a publish, which would otherwise wait forever."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(100)
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def _celery_use(broker_url: str | None, eager: bool) -> None:
    app.conf.task_always_eager = eager
    if broker_url is not None:
        app.conf["broker_url"] = broker_url
    # Connections and producers are pooled per broker URL: forget this app's, so the next publish
    # takes (or makes) the pool of the broker now configured.
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    broker_pause_forget()


@pytest.fixture
def broker_down() -> Iterator[Callable[[str], None]]:
    """Call with "blackhole" or "refused": Celery publishes to a real broker URL that misbehaves
    that way (not eager, as production). Restored afterwards."""
    saved_url, saved_eager = app.conf.broker_url, app.conf.task_always_eager
    holes: list[Blackhole] = []

    def use(kind: str) -> None:
        if kind == "blackhole":
            holes.append(Blackhole())
            port = holes[-1].port
        else:
            port = free_port()
        _celery_use(f"redis://127.0.0.1:{port}/0", eager=False)

    yield use
    _celery_use(saved_url, eager=saved_eager)
    for hole in holes:
        hole.close()


def broker_back() -> None:
    """The broker answers again (eager, as the rest of the suite runs tasks)."""
    _celery_use(None, eager=True)


def answered_within(seconds: float, request: Callable[[], Any]) -> Any:
    """Run `request` in a thread; fail (instead of hanging the suite) if it takes longer."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["response"] = request()
        except BaseException as exc:
            box["error"] = exc
        finally:
            connections.close_all()

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds + 10)
    elapsed = time.monotonic() - started
    assert not worker.is_alive(), f"no answer after {elapsed:.1f} s"
    if "error" in box:
        raise box["error"]
    assert elapsed < seconds, f"answered after {elapsed:.2f} s"
    return box["response"]
