"""Reads of tenants. "Not yours" and "not there" fail the same way: Http404."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, QuerySet
from django.http import Http404

from workspaces.models import ApiKey, ApiKeyKind, AuditLog, Invitation, Membership, Workspace


def memberships_for_user(*, user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def membership_get(*, user: User | AnonymousUser, slug: str) -> Membership:
    """The user's membership of the workspace `slug`, or Http404 whether it exists or not."""
    membership = memberships_for_user(user=user).filter(workspace__slug=slug).first()
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def api_keys_active(*, workspace: Workspace, kind: str | None = None) -> QuerySet[ApiKey]:
    qs = ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).order_by("-created_at")
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def write_key_current(*, workspace: Workspace) -> ApiKey | None:
    return api_keys_active(workspace=workspace, kind=ApiKeyKind.WRITE).first()


def members_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__email")


def invitations_pending(*, workspace: Workspace) -> list[Invitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    rows = Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True)
    return [i for i in rows.select_related("invited_by").order_by("-created_at") if i.is_pending]


def invitation_get_pending(*, token: str) -> Invitation:
    """The pending invitation with that token, or Http404 (unknown, used, revoked or expired alike)."""
    if "\x00" in token:  # PostgreSQL text cannot hold NUL: no invitation has such a token
        raise Http404("This invitation does not exist, was already used, was revoked or has expired.")
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token=token, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or not invitation.is_pending:
        raise Http404("This invitation does not exist, was already used, was revoked or has expired.")
    return invitation


def invitations_pending_for_user(*, user: User | AnonymousUser) -> list[Invitation]:
    """Pending invitations addressed to one of the user's verified emails."""
    if not user.is_authenticated:
        return []
    from allauth.account.models import EmailAddress

    emails = [e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)]
    if not emails:
        return []
    rows = (
        Invitation.objects.filter(email__in=emails, accepted_at__isnull=True, revoked_at__isnull=True)
        .exclude(workspace__memberships__user=user)
        .select_related("workspace")
        .order_by("-created_at")
    )
    return [i for i in rows if i.is_pending]


def api_keys_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    """Every key of the workspace, active first, newest first."""
    return (
        ApiKey.objects.filter(workspace=workspace)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at")
    )


def audit_log_list(*, workspace: Workspace) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(workspace=workspace).select_related("actor").order_by("-created_at", "-id")
