"""The audit log of a workspace, for owners and admins."""

from typing import Any

from django.core.paginator import Paginator
from django.views.generic import TemplateView

from workspaces.models import Role
from workspaces.selectors import audit_log_list
from workspaces.views_base import WorkspaceMixin


class AuditLogView(WorkspaceMixin, TemplateView):
    min_role = Role.ADMIN
    template_name = "workspaces/audit.html"
    extra_context = {"nav": "settings", "subnav": "audit"}
    page_size = 50

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        paginator = Paginator(audit_log_list(workspace=self.workspace), self.page_size)
        context["page"] = paginator.get_page(self.request.GET.get("page"))
        return context
