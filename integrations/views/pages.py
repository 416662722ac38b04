"""Workspace pages: connect providers, test them, see deliveries; create tracked links."""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from integrations.forms import LinkForm
from integrations.models import DeliveryStatus
from integrations.providers import PROVIDERS
from integrations.selectors import (
    DELIVERY_LOG_LIMIT,
    connection_get,
    deliveries_log,
    link_public_url,
    links_list,
    provider_cards,
)
from integrations.services import (
    IntegrationInputError,
    connection_disconnect,
    connection_save,
    connection_test,
    link_create,
)
from workspaces.models import Role
from workspaces.roles import role_at_least
from workspaces.views_base import WorkspaceMixin


class IntegrationsView(WorkspaceMixin, TemplateView):
    template_name = "integrations/list.html"
    extra_context = {"nav": "integrations"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        can_change = role_at_least(self.membership, Role.ADMIN)
        ctx["can_change"] = can_change
        ctx["cards"] = provider_cards(workspace=self.workspace, with_secrets=can_change)
        return ctx


class DeliveriesView(WorkspaceMixin, TemplateView):
    """The delivery log: every verified webhook event with its status and, when it was rejected or
    failed, why. Everyone in the workspace can read it."""

    template_name = "integrations/deliveries.html"
    extra_context = {"nav": "integrations"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        log = deliveries_log(
            workspace=self.workspace,
            provider=self.request.GET.get("provider", ""),
            status=self.request.GET.get("status", ""),
        )
        ctx["log"] = log
        ctx["providers"] = [(key, spec.name) for key, spec in PROVIDERS.items()]
        ctx["statuses"] = [(value, label, log.counts.get(value, 0)) for value, label in DeliveryStatus.choices]
        ctx["limit"] = DELIVERY_LOG_LIMIT
        return ctx


class _ProviderAction(WorkspaceMixin, View):
    min_role = Role.ADMIN
    http_method_names = ["post"]

    def _provider(self, provider: str) -> str:
        if provider not in PROVIDERS:
            raise Http404("No such provider.")
        return provider

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("integrations:list", kwargs={"ws": self.workspace.slug}))


class ConnectionSaveView(_ProviderAction):
    def post(self, request: HttpRequest, ws: str, provider: str) -> HttpResponse:
        spec = PROVIDERS[self._provider(provider)]
        values = {f.name: request.POST.get(f.name, "") for f in spec.fields}
        try:
            connection_save(workspace=self.workspace, provider=provider, values=values, actor=request.user)  # type: ignore[arg-type]
        except IntegrationInputError as exc:
            messages.error(request, f"{spec.name}: {exc}")
        else:
            messages.success(request, f"{spec.name} connected. Credentials are stored encrypted.")
        return self._back()


class ConnectionTestView(_ProviderAction):
    def post(self, request: HttpRequest, ws: str, provider: str) -> HttpResponse:
        spec = PROVIDERS[self._provider(provider)]
        connection = connection_get(workspace=self.workspace, provider=provider)
        if connection is None:
            raise Http404("Not connected.")
        ok, message = connection_test(connection=connection)
        (messages.success if ok else messages.error)(request, f"{spec.name}: {message}")
        return self._back()


class ConnectionDisconnectView(_ProviderAction):
    def post(self, request: HttpRequest, ws: str, provider: str) -> HttpResponse:
        spec = PROVIDERS[self._provider(provider)]
        connection_disconnect(workspace=self.workspace, provider=provider, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, f"{spec.name} disconnected; its stored credentials were deleted.")
        return self._back()


class LinksView(WorkspaceMixin, TemplateView):
    """Everyone in the workspace sees the links; admins and owners create them."""

    template_name = "integrations/links.html"
    extra_context = {"nav": "integrations"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.setdefault("form", LinkForm())
        ctx["can_change"] = role_at_least(self.membership, Role.ADMIN)
        ctx["links"] = [(link, link_public_url(link)) for link in links_list(workspace=self.workspace)]
        return ctx

    def post(self, request: HttpRequest, ws: str) -> HttpResponse:
        if not role_at_least(self.membership, Role.ADMIN):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied("Only admins and owners create links.")
        form = LinkForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                link = link_create(
                    workspace=self.workspace,
                    target_url=data["target_url"],
                    channel=data["channel"],
                    customer_id=data.get("customer_id"),
                    label=data.get("label") or "",
                    utm={k: data.get(f"utm_{k}") or "" for k in ("source", "medium", "campaign")},
                )
            except IntegrationInputError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Link created: {link_public_url(link)}")
                return HttpResponseRedirect(reverse("integrations:links", kwargs={"ws": self.workspace.slug}))
        return self.render_to_response(self.get_context_data(form=form), status=400)
