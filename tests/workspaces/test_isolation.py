"""Tenant isolation: a member of workspace A gets 404 for every page and action of workspace B,
also when naming B's rows from inside A, and nothing of B changes."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.workspaces.conftest import active_key, join
from workspaces.models import ApiKey, ApiKeyKind, AuditLog, Invitation, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def _snapshot(workspace: Workspace) -> dict:
    return {
        "workspace": Workspace.objects.filter(pk=workspace.pk).values().get(),
        "members": list(Membership.objects.filter(workspace=workspace).order_by("pk").values()),
        "invitations": list(Invitation.objects.filter(workspace=workspace).order_by("pk").values()),
        "keys": list(ApiKey.objects.filter(workspace=workspace).order_by("pk").values()),
        "audit": list(AuditLog.objects.filter(workspace=workspace).order_by("pk").values()),
    }


@pytest.fixture
def b_rows(other_tenant):
    b = other_tenant.workspace
    member = join(b, Role.MEMBER, "b-member@example.com")
    invitation = Invitation.objects.create(workspace=b, email="b-invitee@example.com", role=Role.MEMBER)
    secret = active_key(ApiKeyKind.SECRET, other_tenant.secret_key)
    return {
        "membership": Membership.objects.get(workspace=b, user=member),
        "owner_membership": Membership.objects.get(workspace=b, user=other_tenant.owner),
        "invitation": invitation,
        "secret": secret,
    }


@pytest.mark.parametrize("role", [Role.OWNER, Role.MEMBER])
def test_member_of_a_gets_404_for_everything_of_b(tenant, other_tenant, b_rows, role):
    user = tenant.owner if role == Role.OWNER else join(tenant.workspace, Role.MEMBER)
    c = Client()
    c.force_login(user)
    b = other_tenant.workspace
    before = _snapshot(b)

    def url(name, **kw):
        return reverse(f"workspaces:{name}", kwargs={"ws": b.slug, **kw})

    for name in ("settings", "members", "keys", "audit", "install"):
        assert c.get(url(name)).status_code == 404, name
    # Other apps' pages go through the same mixin.
    assert c.get(reverse("identity:customers", kwargs={"ws": b.slug})).status_code == 404

    posts = [
        (
            url("settings"),
            {
                "name": "Taken over",
                "timezone": "UTC",
                "default_country": "US",
                "retention_months": 1,
                "consent_mode": "never",
                "summary_recipients": "evil@example.com",
                "allowed_origins": "",
            },
        ),
        (url("member_invite"), {"email": "evil@example.com", "role": "owner"}),
        (url("member_role", membership_id=b_rows["membership"].pk), {"role": "owner"}),
        (url("member_remove", membership_id=b_rows["owner_membership"].pk), {}),
        (url("invitation_revoke", invitation_id=b_rows["invitation"].pk), {}),
        (url("keys"), {"action": "rotate_write"}),
        (url("keys"), {"action": "rotate_secret"}),
        (url("keys"), {"action": "create_secret"}),
        (url("keys"), {"action": "revoke", "key_id": b_rows["secret"].pk}),
    ]
    for target, data in posts:
        response = c.post(target, data)
        assert response.status_code == 404, target
        assert "sk_" not in response.content.decode()

    assert _snapshot(b) == before
    assert active_key(ApiKeyKind.WRITE, other_tenant.write_key).workspace == b


def test_b_rows_named_from_inside_a_are_404(tenant, other_tenant, b_rows):
    c = Client()
    c.force_login(tenant.owner)
    before = _snapshot(other_tenant.workspace)
    a = tenant.workspace.slug

    def url(name, **kw):
        return reverse(f"workspaces:{name}", kwargs={"ws": a, **kw})

    assert c.post(url("member_role", membership_id=b_rows["membership"].pk), {"role": "admin"}).status_code == 404
    assert c.post(url("member_remove", membership_id=b_rows["membership"].pk)).status_code == 404
    assert c.post(url("invitation_revoke", invitation_id=b_rows["invitation"].pk)).status_code == 404
    assert c.post(url("keys"), {"action": "revoke", "key_id": b_rows["secret"].pk}).status_code == 404
    assert _snapshot(other_tenant.workspace) == before
    # B's data never shows on A's pages.
    for name in ("members", "keys", "audit"):
        body = c.get(url(name)).content.decode()
        assert other_tenant.owner.email not in body and "b-invitee@example.com" not in body
        assert other_tenant.write_key not in body


def test_unknown_workspace_is_404_like_someone_elses(tenant):
    c = Client()
    c.force_login(tenant.owner)
    assert c.get(reverse("workspaces:settings", kwargs={"ws": "no-such-workspace"})).status_code == 404
