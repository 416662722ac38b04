"""Invite by email, accept as the right person, refuse everyone else, revoke."""

import datetime

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.workspaces.conftest import PASSWORD, found, join, verified_user
from workspaces.models import AuditLog, Invitation, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(owner_client, tenant, django_capture_on_commit_callbacks):
    """POST the invite form as the owner, running the after-commit email like a real request does."""

    def _invite(email, role=Role.MEMBER):
        with django_capture_on_commit_callbacks(execute=True):
            return owner_client.post(
                reverse("workspaces:member_invite", kwargs={"ws": tenant.workspace.slug}),
                {"email": email, "role": role},
            )

    return _invite


@pytest.fixture
def other_client():
    return Client()


def _token_from_email(message) -> str:
    return found(r"/invitations/([\w-]+)/", message.body, 1)


def test_invite_sends_email_and_the_invitee_accepts(invite, owner_client, tenant):
    response = invite("New.Hire@Example.com", Role.ADMIN)
    assert response.status_code == 302
    invitation = Invitation.objects.get(workspace=tenant.workspace)
    assert (invitation.email, invitation.role) == ("new.hire@example.com", Role.ADMIN)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.hire@example.com"]
    assert tenant.workspace.name in message.subject
    token = _token_from_email(message)
    assert token == invitation.token
    assert (
        "new.hire@example.com"
        in owner_client.get(reverse("workspaces:members", kwargs={"ws": tenant.workspace.slug})).content.decode()
    )

    invitee = verified_user("new.hire@example.com")
    invitee_client = Client()
    invitee_client.force_login(invitee)
    page = invitee_client.get(reverse("workspaces:invitation", kwargs={"token": token}))
    assert page.status_code == 200 and "Accept and join" in page.content.decode()
    response = invitee_client.post(reverse("workspaces:invitation", kwargs={"token": token}))
    assert response["Location"] == reverse("identity:dashboard", kwargs={"ws": tenant.workspace.slug})
    assert Membership.objects.get(workspace=tenant.workspace, user=invitee).role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.accepted_by == invitee
    actions = set(AuditLog.objects.filter(workspace=tenant.workspace).values_list("action", flat=True))
    assert {"invitation.sent", "invitation.accepted", "member.added"} <= actions

    # Used: the link is dead now.
    assert invitee_client.get(reverse("workspaces:invitation", kwargs={"token": token})).status_code == 404
    assert invitee_client.post(reverse("workspaces:invitation", kwargs={"token": token})).status_code == 404


def test_wrong_email_user_is_refused(invite, owner_client, tenant, other_client):
    invite("right@example.com")
    token = Invitation.objects.get().token
    stranger = verified_user("wrong@example.com")
    other_client.force_login(stranger)
    page = other_client.get(reverse("workspaces:invitation", kwargs={"token": token}))
    assert page.status_code == 403
    assert "This invitation is for right@example.com" in page.content.decode()
    response = other_client.post(reverse("workspaces:invitation", kwargs={"token": token}))
    assert response.status_code == 403
    assert not Membership.objects.filter(user=stranger).exists()
    assert Invitation.objects.get().accepted_at is None


def test_unverified_address_cannot_accept(invite, owner_client, tenant, other_client):
    invite("sneaky@example.com")
    token = Invitation.objects.get().token
    user = verified_user("sneaky@example.com")
    user.emailaddress_set.update(verified=False)
    other_client.force_login(user)
    assert other_client.post(reverse("workspaces:invitation", kwargs={"token": token})).status_code == 403
    assert not Membership.objects.filter(user=user).exists()


def test_anonymous_invitee_signs_up_confirms_and_lands_on_the_invitation(invite, owner_client, tenant, other_client):
    invite("fresh@example.com")
    token = Invitation.objects.get().token
    page = other_client.get(reverse("workspaces:invitation", kwargs={"token": token}))
    assert page.status_code == 200
    assert "Log in" in page.content.decode() and "Sign up" in page.content.decode()

    other_client.post(
        reverse("account_signup"), {"email": "fresh@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    confirm = found(r"http://testserver(/accounts/confirm-email/[^\s]+)", mail.outbox[-1].body, 1)
    response = other_client.post(confirm, follow=True)
    # Back on the invitation after confirming, instead of "create workspace".
    assert response.redirect_chain[-1][0] == reverse("workspaces:invitation", kwargs={"token": token})
    other_client.post(reverse("workspaces:invitation", kwargs={"token": token}))
    assert Membership.objects.filter(
        workspace=tenant.workspace, user__email="fresh@example.com", role=Role.MEMBER
    ).exists()


def test_revoked_and_unknown_and_expired_tokens_are_404(invite, owner_client, tenant, other_client):
    invite("gone@example.com")
    invitation = Invitation.objects.get()
    response = owner_client.post(
        reverse("workspaces:invitation_revoke", kwargs={"ws": tenant.workspace.slug, "invitation_id": invitation.pk})
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert AuditLog.objects.filter(
        workspace=tenant.workspace, action="invitation.revoked", target="gone@example.com"
    ).exists()

    user = verified_user("gone@example.com")
    other_client.force_login(user)
    assert other_client.get(reverse("workspaces:invitation", kwargs={"token": invitation.token})).status_code == 404
    assert other_client.post(reverse("workspaces:invitation", kwargs={"token": invitation.token})).status_code == 404
    assert other_client.get(reverse("workspaces:invitation", kwargs={"token": "nope"})).status_code == 404

    invite("gone@example.com")
    fresh = Invitation.objects.get(revoked_at__isnull=True)
    Invitation.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - datetime.timedelta(days=15))
    assert other_client.post(reverse("workspaces:invitation", kwargs={"token": fresh.token})).status_code == 404
    assert not Membership.objects.filter(user=user).exists()


def test_invite_errors_are_clear(invite, owner_client, tenant):
    bad = invite("not an email")
    assert bad.status_code == 400
    assert "Enter a valid email address" in bad.content.decode()

    member = join(tenant.workspace, Role.MEMBER, "already@example.com")
    dup = invite("ALREADY@example.com")
    assert dup.status_code == 400
    assert "already@example.com is already a member" in dup.content.decode()

    invite("twice@example.com")
    again = invite("twice@example.com")
    assert again.status_code == 400
    assert "already has a pending invitation" in again.content.decode()
    assert Invitation.objects.filter(email="twice@example.com").count() == 1

    weird = invite("x@example.com", role="superuser")
    assert weird.status_code == 400
    assert member.pk and Invitation.objects.filter(email="x@example.com").count() == 0


def test_expired_invitation_can_be_sent_again(invite, owner_client, tenant):
    invite("late@example.com")
    Invitation.objects.update(created_at=timezone.now() - datetime.timedelta(days=30))
    assert invite("late@example.com").status_code == 302
    assert Invitation.objects.filter(email="late@example.com", revoked_at__isnull=True).count() == 1
    assert len(mail.outbox) == 2


def test_create_page_lists_invitations_for_my_verified_email(invite, other_client):
    invite("listed@example.com", Role.ADMIN)
    other_client.force_login(verified_user("listed@example.com"))
    body = other_client.get(reverse("workspaces:create")).content.decode()
    assert "You have been invited" in body
    assert reverse("workspaces:invitation", kwargs={"token": Invitation.objects.get().token}) in body
