"""API keys: the public write key with its snippet, secret keys by prefix. Owners and admins only.

A new secret key's value is in the response to the POST that made it, and nowhere else."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from workspaces.models import ApiKeyKind, Role
from workspaces.selectors import api_keys_list, write_key_current
from workspaces.services import WorkspaceRuleError, api_key_create, api_key_revoke, api_key_rotate
from workspaces.snippet import snippet_code
from workspaces.views_base import WorkspaceMixin

ACTIONS = ("create_secret", "rotate_secret", "rotate_write", "revoke")


class KeysView(WorkspaceMixin, View):
    min_role = Role.ADMIN
    template_name = "workspaces/keys.html"

    def _render(self, *, status: int = 200, new_secret: str = "", error: str = "") -> HttpResponse:
        write = write_key_current(workspace=self.workspace)
        keys = list(api_keys_list(workspace=self.workspace))
        context = {
            "nav": "settings",
            "subnav": "keys",
            "write_key": write.lookup if write else "",
            "snippet": snippet_code(write_key=write.lookup) if write else "",
            "public_url": settings.CLARM_PUBLIC_URL,
            "secret_keys": [k for k in keys if k.kind == ApiKeyKind.SECRET],
            "write_keys": [k for k in keys if k.kind == ApiKeyKind.WRITE],
            "new_secret": new_secret,
            "error": error,
        }
        response = render(self.request, self.template_name, context, status=status)
        response["Cache-Control"] = "no-store"
        return response

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._render()

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        action = request.POST.get("action", "")
        actor = request.user
        if action not in ACTIONS:
            return self._render(status=400, error=f"Unknown action {action!r}.")
        if action == "create_secret":
            _, plain = api_key_create(workspace=self.workspace, kind=ApiKeyKind.SECRET, actor=actor)  # type: ignore[arg-type]
            return self._render(new_secret=plain)
        if action == "rotate_secret":
            _, plain = api_key_rotate(workspace=self.workspace, kind=ApiKeyKind.SECRET, actor=actor)  # type: ignore[arg-type]
            return self._render(new_secret=plain)
        if action == "rotate_write":
            api_key_rotate(workspace=self.workspace, kind=ApiKeyKind.WRITE, actor=actor)  # type: ignore[arg-type]
            messages.success(
                request, "New write key made; the old one stopped working. Update the snippet on your site."
            )
            return redirect("workspaces:keys", ws=self.workspace.slug)
        try:
            key_id = int(request.POST.get("key_id", ""))
        except ValueError:
            return self._render(status=400, error="Say which key to revoke.")
        try:
            key = api_key_revoke(workspace=self.workspace, key_id=key_id, actor=actor)  # type: ignore[arg-type]
        except WorkspaceRuleError as exc:
            return self._render(status=400, error=str(exc))
        messages.success(request, f"Key {key.prefix}… revoked.")
        return redirect("workspaces:keys", ws=self.workspace.slug)
