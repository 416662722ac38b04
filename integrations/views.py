from django.views.generic import TemplateView

from workspaces.views_base import WorkspaceMixin


class IntegrationsView(WorkspaceMixin, TemplateView):
    template_name = "integrations/list.html"
    extra_context = {"nav": "integrations"}
