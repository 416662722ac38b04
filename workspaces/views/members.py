"""Members and invitations: everyone sees the list, owners and admins change it."""

from abc import ABCMeta, abstractmethod
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View
from django.views.generic import TemplateView

from workspaces.forms import InviteForm, RoleForm
from workspaces.models import Role
from workspaces.roles import role_at_least, roles_grantable
from workspaces.selectors import invitations_pending, members_list
from workspaces.services import (
    WorkspaceRuleError,
    invitation_revoke,
    member_invite,
    membership_remove,
    membership_role_change,
)
from workspaces.views_base import WorkspaceMixin


class MembersView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/members.html"
    extra_context = {"nav": "settings", "subnav": "members"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        can_manage = role_at_least(self.membership, Role.ADMIN)
        grantable = roles_grantable(self.membership)
        members = list(members_list(workspace=self.workspace))
        is_owner = self.membership.role == Role.OWNER
        sole_owner = sum(1 for m in members if m.role == Role.OWNER) == 1
        for m in members:
            # What this page offers for each row; the services check the same rules again.
            may_touch = can_manage and (m.role != Role.OWNER or is_owner)
            m.can_change_role = may_touch and m.pk != self.membership.pk  # type: ignore[attr-defined]
            m.can_remove = may_touch and not (sole_owner and m.role == Role.OWNER)  # type: ignore[attr-defined]
        context.update(
            members=members,
            invitations=invitations_pending(workspace=self.workspace),
            can_manage=can_manage,
            grantable=grantable,
            invite_form=kwargs.get("invite_form") or InviteForm(grantable=grantable),
            error=kwargs.get("error"),
        )
        return context


class _MemberActionView(WorkspaceMixin, View, metaclass=ABCMeta):
    """A POST that changes members; re-renders the members page with the reason when refused."""

    min_role = Role.ADMIN
    http_method_names = ["post"]

    def _page(self, *, status: int, error: str = "", invite_form: InviteForm | None = None) -> HttpResponse:
        page = MembersView()
        page.setup(self.request, ws=self.workspace.slug)
        page.workspace, page.membership = self.workspace, self.membership
        context = page.get_context_data(error=error, invite_form=invite_form)
        return render(self.request, MembersView.template_name, context, status=status)

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            return self.act(request, **kwargs)
        except WorkspaceRuleError as exc:
            return self._page(status=400, error=str(exc))
        except PermissionDenied as exc:
            return self._page(status=403, error=str(exc) or "Your role does not allow this.")

    @abstractmethod
    def act(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """The member change itself; each action view defines it."""

    def _done(self, message: str) -> HttpResponse:
        messages.success(self.request, message)
        return redirect("workspaces:members", ws=self.workspace.slug)


class MemberInviteView(_MemberActionView):
    def act(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = InviteForm(request.POST, grantable=roles_grantable(self.membership))
        if not form.is_valid():
            return self._page(status=400, invite_form=form)
        invitation = member_invite(
            workspace=self.workspace,
            actor=request.user,  # type: ignore[arg-type]
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
        return self._done(f"Invitation sent to {invitation.email}.")


class MemberRoleView(_MemberActionView):
    def act(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self._page(status=400, error="Choose a role: owner, admin or member.")
        membership = membership_role_change(
            workspace=self.workspace,
            actor=request.user,  # type: ignore[arg-type]
            membership_id=kwargs["membership_id"],
            role=form.cleaned_data["role"],
        )
        return self._done(f"{membership.user.email} is now {membership.get_role_display().lower()}.")


class MemberRemoveView(_MemberActionView):
    def act(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        membership_remove(
            workspace=self.workspace,
            actor=request.user,  # type: ignore[arg-type]
            membership_id=kwargs["membership_id"],
        )
        if not self.workspace.memberships.filter(pk=self.membership.pk).exists():
            messages.success(request, f"You left {self.workspace.name}.")
            return redirect("workspaces:home")
        return self._done("Member removed.")


class InvitationRevokeView(_MemberActionView):
    def act(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        invitation = invitation_revoke(
            workspace=self.workspace,
            actor=request.user,  # type: ignore[arg-type]
            invitation_id=kwargs["invitation_id"],
        )
        return self._done(f"Invitation of {invitation.email} revoked.")
