"""docs/workspaces.md and docs/ingest.md: a revoked write key is refused by every ingest process
within KEY_CACHE_SECONDS (60 s), not at once; a secret key is checked on every request."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from tracking import writekeys
from workspaces.models import ApiKey, ApiKeyKind

pytestmark = pytest.mark.django_db


def _track(client, key: str) -> int:
    body = json.dumps({"event": "page_view", "visitor_id": "dev-cache-1"})
    response = client.post(reverse("tracking:track"), data=body, content_type="application/json", HTTP_X_CLARM_KEY=key)
    return response.status_code


def test_a_write_key_revoked_elsewhere_is_refused_within_the_cache_bound(client, tenant, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(writekeys.time, "monotonic", lambda: clock[0])
    writekeys.write_keys_forget()
    assert _track(client, tenant.write_key) == 202  # cached by this process now
    # Another process revokes it (this one's cache does not hear of it).
    ApiKey.objects.filter(workspace=tenant.workspace, kind=ApiKeyKind.WRITE).update(revoked_at=timezone.now())
    clock[0] += writekeys.KEY_CACHE_SECONDS - 1
    assert _track(client, tenant.write_key) == 202  # the documented trade-off
    clock[0] += 2
    assert _track(client, tenant.write_key) == 401
    writekeys.write_keys_forget()
