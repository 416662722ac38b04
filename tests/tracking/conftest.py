import base64
import json
from types import SimpleNamespace

import pytest

from tracking import hooks, network, ratelimit
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
    # The edge's tests measure the write path alone: processors above identity subscribed to the
    # post-stitch hook (destinations, enrichment) run in a Celery worker in production, but inline
    # under eager Celery. Identity's own (consent records, rollups) stay: they are the pipeline's.
    # tests/tracking/test_hooks.py checks the hook itself.
    monkeypatch.setattr(hooks, "_receivers", [r for r in hooks._receivers if r.__module__.startswith("identity.")])


@pytest.fixture
def ratelimit_clock(monkeypatch):
    """The rate limit's clock alone, frozen mid-window (10 s in; move it with clock["now"]). Patching
    `time.time` itself also froze the database cache's expiry times, which then lay in the past once
    the real date passed the frozen one."""
    clock = {"now": 1_800_000_010.0}
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: clock["now"]))
    return clock


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
