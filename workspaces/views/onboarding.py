"""First steps: landing, the post-login redirect, creating a workspace, installing the snippet."""

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.generic import FormView, TemplateView

from workspaces.forms import WorkspaceCreateForm
from workspaces.selectors import invitations_pending_for_user, memberships_for_user, write_key_current
from workspaces.services import workspace_create
from workspaces.views_base import WorkspaceMixin

# Set when someone opens an invitation before logging in, so that after signup, email confirmation
# and login they are brought back to it.
INVITATION_SESSION_KEY = "clarm_invitation_token"


def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    return render(request, "landing.html")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a login lands: a pending invitation, the first workspace, or creating one."""
    token = request.session.pop(INVITATION_SESSION_KEY, None)
    if token:
        return redirect("workspaces:invitation", token=token)
    membership = memberships_for_user(user=request.user).first()
    if membership is None:
        return redirect("workspaces:create")
    return redirect("identity:dashboard", ws=membership.workspace.slug)


class WorkspaceCreateView(LoginRequiredMixin, FormView):
    template_name = "workspaces/create.html"
    form_class = WorkspaceCreateForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["invitations"] = invitations_pending_for_user(user=self.request.user)
        context["first_workspace"] = not memberships_for_user(user=self.request.user).exists()
        return context

    def form_valid(self, form: WorkspaceCreateForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            workspace, _, _ = workspace_create(
                name=data["name"],
                owner=self.request.user,  # type: ignore[arg-type]
                timezone_name=data["timezone"],
                region=data["region"],
                default_country=data["default_country"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        return redirect("workspaces:install", ws=workspace.slug)

    def form_invalid(self, form: WorkspaceCreateForm) -> HttpResponse:
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class InstallView(WorkspaceMixin, TemplateView):
    """The empty state of a new workspace: the snippet to paste, then what to do next."""

    template_name = "workspaces/install.html"
    extra_context = {"nav": "settings", "subnav": "install"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        key = write_key_current(workspace=self.workspace)
        context["write_key"] = key.lookup if key else ""
        context["public_url"] = settings.CLARM_PUBLIC_URL
        return context
