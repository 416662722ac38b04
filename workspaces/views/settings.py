"""Workspace settings: owners and admins edit, members read."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from workspaces.forms import WorkspaceSettingsForm
from workspaces.models import Role
from workspaces.roles import role_at_least
from workspaces.services import workspace_settings_update
from workspaces.views_base import WorkspaceMixin, forbidden


class SettingsView(WorkspaceMixin, View):
    template_name = "workspaces/settings.html"

    def _render(self, form: WorkspaceSettingsForm, *, status: int = 200) -> HttpResponse:
        can_edit = role_at_least(self.membership, Role.ADMIN)
        if not can_edit:
            for field in form.fields.values():
                field.disabled = True
        context = {"form": form, "can_edit": can_edit, "nav": "settings", "subnav": "general"}
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._render(WorkspaceSettingsForm(initial=WorkspaceSettingsForm.initial_for(self.workspace)))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not role_at_least(self.membership, Role.ADMIN):
            return forbidden(request, "Only owners and admins change the settings of a workspace.")
        form = WorkspaceSettingsForm(request.POST, initial=WorkspaceSettingsForm.initial_for(self.workspace))
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            diff = workspace_settings_update(workspace=self.workspace, actor=request.user, changes=form.cleaned_data)  # type: ignore[arg-type]
        except ValidationError as exc:
            form.add_error(None, exc)
            return self._render(form, status=400)
        if diff:
            labels = ", ".join(str(form.fields[f].label or f.replace("_", " ")).lower() for f in diff)
            messages.success(request, f"Saved: {labels}.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("workspaces:settings", ws=self.workspace.slug)
