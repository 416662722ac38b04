import base64
import json
import threading
from dataclasses import dataclass, field

import pytest

from tracking import hooks, knowndevices, network, services
from tracking.writekeys import write_keys_forget


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # Keys and the day's IP salt are cached per process; each test starts from the database.
    write_keys_forget()
    network._salts.clear()
    yield
    write_keys_forget()
    network._salts.clear()


@pytest.fixture(autouse=True)
def _no_processors(monkeypatch):
    # The edge's tests measure the write path alone: processors subscribed to the after-commit hook
    # (enrichment, ...) run in a Celery worker in production, but inline under eager Celery.
    # tests/tracking/test_hooks.py checks the hook itself.
    monkeypatch.setattr(hooks, "_receivers", [])


@pytest.fixture
def post_track(client, tenant, django_capture_on_commit_callbacks):
    """POST a body to /api/track (tenant A's key in the header unless `key=` says otherwise) from a
    public IP, running the after-commit work as production would."""

    def post(body, *, key=None, ip="8.8.8.8", content_type="application/json", path="/api/track", **headers):
        meta = {"REMOTE_ADDR": ip}
        if key is not False:
            meta["HTTP_X_CLARM_KEY"] = key if key is not None else tenant.write_key
        meta.update(headers)
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data=data, content_type=content_type, **meta)

    return post


@dataclass
class Paths:
    """Which path took which events (by message id): `full` one list per `_store` call; `confirmed`
    and `refused` what the known-device statement confirmed or sent back to the full path."""

    full: list[list[str | None]] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.full.clear()
            self.confirmed.clear()
            self.refused.clear()


@pytest.fixture
def paths(monkeypatch) -> Paths:
    """Spy on both paths (the real functions still run)."""
    seen = Paths()
    real_store = services._store
    real_write = knowndevices.known_device_events_write

    def store(*, workspace, prepared, received_at):
        with seen.lock:
            seen.full.append([p.message_id for p in prepared])
        return real_store(workspace=workspace, prepared=prepared, received_at=received_at)

    def write(rows, *, last_seen_slack):
        outcomes = real_write(rows, last_seen_slack=last_seen_slack)
        with seen.lock:
            for row, outcome in zip(rows, outcomes, strict=True):
                (seen.confirmed if outcome.confirmed else seen.refused).append(row["message_id"])
        return outcomes

    monkeypatch.setattr(services, "_store", store)
    monkeypatch.setattr(knowndevices, "known_device_events_write", write)
    return seen


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.fixture
def post_segment(client, tenant, django_capture_on_commit_callbacks):
    def post(call, body, *, key=None, auth=True, **meta):
        headers = {"REMOTE_ADDR": "8.8.8.8"}
        if auth:
            headers["HTTP_AUTHORIZATION"] = _basic(key or tenant.write_key)
        headers.update(meta)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/v1/{call}", data=json.dumps(body), content_type="application/json", **headers)

    return post
