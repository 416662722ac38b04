"""The one place a workspace page is scoped: the slug in the URL, checked against membership."""

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from workspaces.models import Membership, Role, Workspace
from workspaces.roles import ROLE_RANK, role_at_least
from workspaces.selectors import membership_get
from workspaces.zones import workspace_zone

__all__ = ["ROLE_RANK", "WorkspaceMixin", "forbidden", "role_at_least"]


def forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    """403 inside the workspace layout, saying why and who can help."""
    return render(request, "workspaces/forbidden.html", {"reason": reason}, status=403)


class WorkspaceMixin(LoginRequiredMixin):
    """For views under `w/<slug:ws>/`: 404 unless the user is a member; 403 below `min_role`. Times
    render in the workspace's zone."""

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
        # Every time on a workspace page is in the workspace's zone (templates render after this
        # returns; CurrentWorkspaceMiddleware resets the zone when the request ends).
        timezone.activate(workspace_zone(self.workspace.timezone))
        if not role_at_least(self.membership, self.min_role):
            return forbidden(request, f"This page needs the {Role(self.min_role).label.lower()} role or higher.")
        return super().dispatch(request, *args, **kwargs)
