"""Workspace pages: Integrations → Destinations. Everyone sees them; admins and owners add, test,
pause, resume, remove and replay. The same services as the API."""

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from integrations.destinations.models import DeliveryKind, DeliveryState, Destination, DestinationStatus
from integrations.destinations.selectors import deliveries_page, delivery_get, destination_get, destinations_list
from integrations.destinations.services import (
    DestinationInputError,
    delivery_replay,
    destination_create,
    destination_delete,
    destination_test,
    destination_update,
)
from integrations.destinations.specs import SPECS, config_shown
from workspaces.models import Role
from workspaces.roles import role_at_least
from workspaces.views_base import WorkspaceMixin

RULE_EXAMPLE = '[{"on": "event", "event": "purchase", "map_to": "Purchase"}, {"on": "rung_reached", "rung": 4}]'


class _Base(WorkspaceMixin, TemplateView):
    extra_context = {"nav": "integrations"}

    def _require_admin(self) -> None:
        if not role_at_least(self.membership, Role.ADMIN):
            raise PermissionDenied("Only admins and owners change destinations.")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["can_change"] = role_at_least(self.membership, Role.ADMIN)
        return ctx


class DestinationsView(_Base):
    template_name = "integrations/destinations.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["destinations"] = [
            (d, config_shown(d.provider, d.config)) for d in destinations_list(workspace=self.workspace)
        ]
        ctx["specs"] = list(SPECS.values())
        ctx["rule_example"] = RULE_EXAMPLE
        return ctx

    def post(self, request: HttpRequest, ws: str) -> HttpResponse:
        self._require_admin()
        provider = request.POST.get("provider", "")
        spec = SPECS.get(provider)
        if spec is None:
            messages.error(request, "Choose a provider.")
            return self._back()
        config = {f.name: request.POST.get(f"{provider}-{f.name}", "") for f in spec.fields}
        try:
            rules = json.loads(request.POST.get("rules") or "[]")
        except json.JSONDecodeError as exc:
            messages.error(request, f"Rules are not valid JSON: {exc.msg} (line {exc.lineno}).")
            return self._back()
        try:
            destination = destination_create(
                workspace=self.workspace,
                provider=provider,
                name=request.POST.get("name", ""),
                config={k: v for k, v in config.items() if v},
                rules=rules,
                actor=request.user,  # type: ignore[arg-type]
            )
        except DestinationInputError as exc:
            messages.error(request, f"{spec.name}: {exc}")
            return self._back()
        secret = SPECS[provider].generated_secret
        note = f" Signing secret (shown once): {destination.config[secret]}" if secret else ""
        messages.success(request, f"Destination “{destination.name}” added.{note}")
        return HttpResponseRedirect(reverse("integrations:destination", kwargs={"ws": ws, "pk": destination.pk}))

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("integrations:destinations", kwargs={"ws": self.workspace.slug}))


class DestinationView(_Base):
    template_name = "integrations/destination.html"

    def _destination(self, pk: int) -> Destination:
        destination = destination_get(workspace=self.workspace, pk=pk)
        if destination is None:
            raise Http404("No such destination.")
        return destination

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        destination = self._destination(int(kwargs["pk"]))
        state = self.request.GET.get("status") or None
        kind = self.request.GET.get("kind") or None
        before = self.request.GET.get("before") or ""
        rows, more = deliveries_page(
            workspace=self.workspace,
            destination=destination,
            status=state if state in DeliveryState.values else None,
            kind=kind if kind in DeliveryKind.values else None,
            before_id=int(before) if before.isdigit() else None,
        )
        ctx.update(
            destination=destination,
            spec=SPECS[destination.provider],
            shown=config_shown(destination.provider, destination.config),
            rules_json=json.dumps(destination.rules),
            deliveries=rows,
            more=more,
            states=DeliveryState.choices,
            kinds=DeliveryKind.choices,
            status_filter=state or "",
            kind_filter=kind or "",
        )
        return ctx

    def post(self, request: HttpRequest, ws: str, pk: int) -> HttpResponse:
        self._require_admin()
        destination = self._destination(pk)
        action = request.POST.get("action", "")
        user = request.user
        back = HttpResponseRedirect(reverse("integrations:destination", kwargs={"ws": ws, "pk": pk}))
        if action == "test":
            ok, answer = destination_test(destination=destination, actor=user)  # type: ignore[arg-type]
            (messages.success if ok else messages.error)(request, f"Test event sent. The provider answered: {answer}")
        elif action in ("pause", "resume"):
            new = DestinationStatus.PAUSED if action == "pause" else DestinationStatus.ACTIVE
            destination_update(destination=destination, actor=user, status=new)  # type: ignore[arg-type]
            messages.success(request, "Paused: deliveries wait." if action == "pause" else "Resumed.")
        elif action == "remove":
            destination_delete(destination=destination, actor=user)  # type: ignore[arg-type]
            messages.success(request, f"Destination “{destination.name}” removed.")
            return HttpResponseRedirect(reverse("integrations:destinations", kwargs={"ws": ws}))
        elif action == "replay":
            raw = request.POST.get("delivery", "")
            delivery = (
                delivery_get(workspace=self.workspace, destination=destination, pk=int(raw)) if raw.isdigit() else None
            )
            if delivery is None:
                raise Http404("No such delivery.")
            delivery_replay(delivery=delivery, actor=user)  # type: ignore[arg-type]
            messages.success(request, "Delivery queued again.")
        else:
            messages.error(request, "Unknown action.")
        return back
