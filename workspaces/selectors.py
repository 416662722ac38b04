"""Reads of tenants. "Not yours" and "not there" fail the same way: Http404."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from workspaces.models import ApiKey, ApiKeyKind, Membership, Workspace


def memberships_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def membership_get(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> Membership:
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
