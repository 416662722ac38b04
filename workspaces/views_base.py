"""The one place a workspace page is scoped: the slug in the URL, checked against membership."""

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from workspaces.models import Membership, Role, Workspace
from workspaces.selectors import membership_get

ROLE_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}


def role_at_least(membership: Membership, role: str) -> bool:
    return ROLE_RANK[Role(membership.role)] >= ROLE_RANK[Role(role)]


class WorkspaceMixin(LoginRequiredMixin):
    """For views under `w/<slug:ws>/`: 404 unless the user is a member; 403 below `min_role`."""

    min_role: str = Role.MEMBER
    workspace: Workspace
    membership: Membership

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = membership_get(user=request.user, slug=kwargs["ws"])
        self.workspace = self.membership.workspace
        request.workspace = self.workspace  # type: ignore[attr-defined]
        request.membership = self.membership  # type: ignore[attr-defined]
        if not role_at_least(self.membership, self.min_role):
            raise PermissionDenied("Your role in this workspace does not allow this.")
        return super().dispatch(request, *args, **kwargs)
