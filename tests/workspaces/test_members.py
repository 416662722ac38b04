"""Roles: who may change members, and the workspace always keeps an owner."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.workspaces.conftest import join
from workspaces.models import AuditLog, Invitation, Membership, Role

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _url(name, tenant, **kw):
    return reverse(f"workspaces:{name}", kwargs={"ws": tenant.workspace.slug, **kw})


def _membership(workspace, user) -> Membership:
    return Membership.objects.get(workspace=workspace, user=user)


def test_everyone_sees_members_only_managers_get_controls(tenant, member_user, admin_user):
    page = _as(member_user).get(_url("members", tenant))
    assert page.status_code == 200
    body = page.content.decode()
    assert tenant.owner.email in body and member_user.email in body
    assert "Send invitation" not in body
    assert "Send invitation" in _as(admin_user).get(_url("members", tenant)).content.decode()


def test_member_cannot_invite_change_roles_or_remove(tenant, member_user, admin_user):
    c = _as(member_user)
    target = _membership(tenant.workspace, admin_user)
    before = list(Membership.objects.order_by("pk").values_list("pk", "role"))
    assert c.post(_url("member_invite", tenant), {"email": "x@example.com", "role": "member"}).status_code == 403
    assert c.post(_url("member_role", tenant, membership_id=target.pk), {"role": "member"}).status_code == 403
    assert c.post(_url("member_remove", tenant, membership_id=target.pk)).status_code == 403
    assert list(Membership.objects.order_by("pk").values_list("pk", "role")) == before
    assert not Invitation.objects.exists()


def test_owner_changes_roles_with_audit(tenant, member_user):
    owner = _as(tenant.owner)
    target = _membership(tenant.workspace, member_user)
    response = owner.post(_url("member_role", tenant, membership_id=target.pk), {"role": Role.ADMIN})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    row = AuditLog.objects.get(workspace=tenant.workspace, action="member.role_changed")
    assert (row.actor, row.target, row.details) == (
        tenant.owner,
        member_user.email,
        {"before": "member", "after": "admin"},
    )


def test_only_an_owner_grants_owner(tenant, admin_user, member_user):
    admin = _as(admin_user)
    target = _membership(tenant.workspace, member_user)
    response = admin.post(_url("member_role", tenant, membership_id=target.pk), {"role": Role.OWNER})
    assert response.status_code == 403
    assert "Only an owner can make someone an owner." in response.content.decode()
    target.refresh_from_db()
    assert target.role == Role.MEMBER
    response = admin.post(_url("member_invite", tenant), {"email": "boss@example.com", "role": Role.OWNER})
    assert response.status_code == 403
    assert not Invitation.objects.exists()
    # An admin cannot demote or remove an owner either.
    owner_membership = _membership(tenant.workspace, tenant.owner)
    assert (
        admin.post(_url("member_role", tenant, membership_id=owner_membership.pk), {"role": "member"}).status_code
        == 403
    )
    assert admin.post(_url("member_remove", tenant, membership_id=owner_membership.pk)).status_code == 403
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.OWNER

    # The owner can.
    assert (
        _as(tenant.owner).post(_url("member_role", tenant, membership_id=target.pk), {"role": Role.OWNER}).status_code
        == 302
    )
    target.refresh_from_db()
    assert target.role == Role.OWNER


def test_last_owner_cannot_be_demoted_or_removed(tenant, member_user):
    owner = _as(tenant.owner)
    mine = _membership(tenant.workspace, tenant.owner)
    response = owner.post(_url("member_role", tenant, membership_id=mine.pk), {"role": Role.ADMIN})
    assert response.status_code == 400
    assert "is the only owner" in response.content.decode()
    response = owner.post(_url("member_remove", tenant, membership_id=mine.pk))
    assert response.status_code == 400
    assert "is the only owner" in response.content.decode()
    mine.refresh_from_db()
    assert mine.role == Role.OWNER

    # With a second owner, the first may step down.
    second = _membership(tenant.workspace, member_user)
    owner.post(_url("member_role", tenant, membership_id=second.pk), {"role": Role.OWNER})
    assert owner.post(_url("member_remove", tenant, membership_id=mine.pk)).status_code == 302
    assert list(Membership.objects.filter(workspace=tenant.workspace).values_list("role", flat=True)) == [Role.OWNER]


def test_admin_removes_a_member_with_audit(tenant, admin_user, member_user):
    target = _membership(tenant.workspace, member_user)
    assert _as(admin_user).post(_url("member_remove", tenant, membership_id=target.pk)).status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
    row = AuditLog.objects.get(workspace=tenant.workspace, action="member.removed")
    assert (row.actor, row.target) == (admin_user, member_user.email)
    # The removed person no longer sees the workspace.
    assert _as(member_user).get(_url("members", tenant)).status_code == 404


def test_bad_role_value_is_a_clear_400(tenant, member_user):
    target = _membership(tenant.workspace, member_user)
    response = _as(tenant.owner).post(_url("member_role", tenant, membership_id=target.pk), {"role": "god"})
    assert response.status_code == 400
    assert "Choose a role" in response.content.decode()


def test_unknown_member_id_is_404(tenant):
    assert _as(tenant.owner).post(_url("member_remove", tenant, membership_id=999999)).status_code == 404


def test_member_page_lists_pending_invitations(tenant, member_user):
    join(tenant.workspace, Role.ADMIN, "helper@example.com")
    Invitation.objects.create(workspace=tenant.workspace, email="soon@example.com", role=Role.MEMBER)
    body = _as(member_user).get(_url("members", tenant)).content.decode()
    assert "soon@example.com" in body and "helper@example.com" in body


def test_out_of_range_ids_and_tokens_are_404_not_500(tenant):
    c = _as(tenant.owner)
    huge = 10**30
    assert c.post(_url("member_remove", tenant, membership_id=huge)).status_code == 404
    assert c.post(_url("member_role", tenant, membership_id=huge), {"role": "admin"}).status_code == 404
    assert c.post(_url("invitation_revoke", tenant, invitation_id=huge)).status_code == 404
    assert c.post(_url("keys", tenant), {"action": "revoke", "key_id": str(huge)}).status_code == 404
    assert c.get(reverse("workspaces:invitation", kwargs={"token": "x" * 500})).status_code == 404
    assert Membership.objects.filter(workspace=tenant.workspace).count() == 1
