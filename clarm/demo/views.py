"""The owner's reset button of the demo workspace (Settings → General)."""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View

from clarm.demo.services import demo_reset_request
from workspaces.models import Role
from workspaces.views_base import WorkspaceMixin


class DemoResetView(WorkspaceMixin, View):
    """POST only; owners only (403 for the other roles); any workspace but the demo is "not there"."""

    min_role = Role.OWNER

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.workspace.is_demo:
            raise Http404
        demo_reset_request(workspace=self.workspace, actor=request.user)  # type: ignore[arg-type]
        messages.success(
            request,
            "Resetting the demo data: its people, events and messages are erased and written again "
            "through the pipeline. It takes a minute or two; reload the dashboard to see it come back.",
        )
        return redirect("workspaces:settings", ws=self.workspace.slug)
