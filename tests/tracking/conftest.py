import json

import pytest

from tracking import hooks, network
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
    monkeypatch.setattr(hooks, "_subscribers", [])


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
