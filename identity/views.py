from django.views.generic import TemplateView

from workspaces.views_base import WorkspaceMixin


class CustomersView(WorkspaceMixin, TemplateView):
    template_name = "identity/customers.html"
    extra_context = {"nav": "customers"}


class LiveView(WorkspaceMixin, TemplateView):
    template_name = "identity/live.html"
    extra_context = {"nav": "live"}


class PrivacyView(WorkspaceMixin, TemplateView):
    template_name = "identity/privacy.html"
    extra_context = {"nav": "privacy"}
