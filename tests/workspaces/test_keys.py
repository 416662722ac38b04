"""API keys: rotate the write key, secret keys shown once, revoke; members cannot touch them."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.workspaces.conftest import active_key, found
from workspaces.keys import key_authenticate
from workspaces.models import ApiKey, ApiKeyKind, AuditLog

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _keys_url(tenant) -> str:
    return reverse("workspaces:keys", kwargs={"ws": tenant.workspace.slug})


def test_keys_page_shows_write_key_snippet_and_secret_prefix_only(tenant, settings):
    response = _as(tenant.owner).get(_keys_url(tenant))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert tenant.write_key in body
    assert f"{settings.CLARM_PUBLIC_URL}/static/clarm.js" in body
    assert "window.ClarmTrack=window.ClarmTrack||function()" in body
    assert tenant.secret_key not in body
    assert tenant.secret_key[:10] + "…" in body


def test_rotating_the_write_key(tenant):
    old = tenant.write_key
    response = _as(tenant.owner).post(_keys_url(tenant), {"action": "rotate_write"})
    assert response.status_code == 302
    assert key_authenticate(kind=ApiKeyKind.WRITE, plain=old) is None
    new = ApiKey.objects.get(workspace=tenant.workspace, kind=ApiKeyKind.WRITE, revoked_at__isnull=True)
    assert active_key(ApiKeyKind.WRITE, new.lookup).workspace == tenant.workspace
    body = _as(tenant.owner).get(_keys_url(tenant)).content.decode()
    assert new.lookup in body and f"data-key=&quot;{old}&quot;" not in body
    row = AuditLog.objects.get(workspace=tenant.workspace, action="api_key.rotated")
    assert row.actor == tenant.owner and row.details["revoked"] == [old[:10]]


def test_new_secret_key_is_shown_once(tenant):
    owner = _as(tenant.owner)
    response = owner.post(_keys_url(tenant), {"action": "create_secret"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    shown = found(r'id="new-secret"[^>]*value="(sk_[^"]+)"', body, 1)
    key = active_key(ApiKeyKind.SECRET, shown)
    assert key is not None and key.workspace == tenant.workspace
    assert key.lookup != shown  # only a hash is kept
    # Never again.
    later = owner.get(_keys_url(tenant)).content.decode()
    assert shown not in later and shown[:10] + "…" in later
    # The first secret key still works: creating one does not revoke others.
    assert key_authenticate(kind=ApiKeyKind.SECRET, plain=tenant.secret_key) is not None


def test_rotating_secret_keys_revokes_the_old_ones(tenant):
    response = _as(tenant.owner).post(_keys_url(tenant), {"action": "rotate_secret"})
    shown = found(r'value="(sk_[^"]+)"', response.content.decode(), 1)
    assert key_authenticate(kind=ApiKeyKind.SECRET, plain=tenant.secret_key) is None
    assert key_authenticate(kind=ApiKeyKind.SECRET, plain=shown) is not None


def test_revoking_a_secret_key(tenant):
    key = active_key(ApiKeyKind.SECRET, tenant.secret_key)
    response = _as(tenant.owner).post(_keys_url(tenant), {"action": "revoke", "key_id": key.pk})
    assert response.status_code == 302
    assert key_authenticate(kind=ApiKeyKind.SECRET, plain=tenant.secret_key) is None
    assert AuditLog.objects.filter(workspace=tenant.workspace, action="api_key.revoked", target=key.prefix).exists()


def test_bad_key_actions_are_clear_400s(tenant):
    owner = _as(tenant.owner)
    write = active_key(ApiKeyKind.WRITE, tenant.write_key)
    response = owner.post(_keys_url(tenant), {"action": "revoke", "key_id": write.pk})
    assert response.status_code == 400
    assert "rotate it instead" in response.content.decode()
    assert owner.post(_keys_url(tenant), {"action": "revoke", "key_id": "abc"}).status_code == 400
    assert owner.post(_keys_url(tenant), {"action": "explode"}).status_code == 400
    assert owner.post(_keys_url(tenant), {"action": "revoke", "key_id": 999999}).status_code == 404
    assert key_authenticate(kind=ApiKeyKind.WRITE, plain=tenant.write_key) is not None


def test_member_gets_403_and_nothing_changes(tenant, member_user):
    c = _as(member_user)
    before = list(ApiKey.objects.order_by("pk").values_list("pk", "lookup", "revoked_at"))
    page = c.get(_keys_url(tenant))
    assert page.status_code == 403
    assert "This page needs the admin role or higher." in page.content.decode()
    assert tenant.write_key not in page.content.decode()
    secret = active_key(ApiKeyKind.SECRET, tenant.secret_key)
    for data in (
        {"action": "rotate_write"},
        {"action": "rotate_secret"},
        {"action": "create_secret"},
        {"action": "revoke", "key_id": secret.pk},
    ):
        response = c.post(_keys_url(tenant), data)
        assert response.status_code == 403, data
        assert "sk_" not in response.content.decode()
    assert list(ApiKey.objects.order_by("pk").values_list("pk", "lookup", "revoked_at")) == before
    assert c.get(reverse("workspaces:audit", kwargs={"ws": tenant.workspace.slug})).status_code == 403


def test_audit_page_lists_changes_for_owner(tenant):
    owner = _as(tenant.owner)
    owner.post(_keys_url(tenant), {"action": "rotate_write"})
    body = owner.get(reverse("workspaces:audit", kwargs={"ws": tenant.workspace.slug})).content.decode()
    for action in ("workspace.created", "api_key.created", "api_key.rotated"):
        assert action in body
    assert tenant.owner.email in body
