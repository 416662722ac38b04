"""The workspace's weekly summary (HTML preview and PDF), the Inbox and a person's thread."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from agents import selectors as conversation_selectors
from agents.emerging import MIN_PEOPLE, emerging_topics
from agents.models import Channel
from agents.refund_sentiment import refund_mood
from agents.registry import AGENTS
from agents.sentiment import sentiment_label
from agents.services import AgentInputError, agent_setting_save, conversation_reply, model_endpoint_save
from agents.summary.periods import week_label
from agents.summary.render import summary_context, summary_pdf, summary_pdf_filename
from agents.summary.selectors import WeeklySummary, recent_week_keys, weekly_summary_for
from agents.summary.services import summary_recipients
from agents.webchat import WidgetInputError, widget_save
from identity import selectors as identity_selectors
from identity.models import CustomerStatus
from identity.timeline import relative_time
from integrations.services import IntegrationInputError
from workspaces.models import Role
from workspaces.views_base import WorkspaceMixin


class _SummaryMixin(WorkspaceMixin):
    request: HttpRequest
    summary: WeeklySummary
    week: str

    def summary_load(self) -> HttpResponse | None:
        """Load the asked-for week; a 400 naming the problem for a bad `?week=`."""
        self.week = self.request.GET.get("week", "").strip()
        try:
            self.summary = weekly_summary_for(workspace=self.workspace, week_key=self.week or None, now=timezone.now())
        except ValueError as exc:
            return HttpResponseBadRequest(f"week: {exc}", content_type="text/plain; charset=utf-8")
        return None


class SummaryPreviewView(_SummaryMixin, TemplateView):
    template_name = "agents/summary/preview.html"
    extra_context = {"nav": "summary"}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.summary_load() or super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(summary_context(self.summary, workspace_slug=self.workspace.slug))
        context["week"] = self.week
        context["recent_weeks"] = [
            (key, week_label(key)) for key in recent_week_keys(workspace=self.workspace, now=timezone.now())
        ]
        context["recipients"] = summary_recipients(workspace=self.workspace)
        return context


class SummaryPdfView(_SummaryMixin, View):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        error = self.summary_load()
        if error is not None:
            return error
        slug = self.workspace.slug
        response = HttpResponse(summary_pdf(self.summary, workspace_slug=slug), content_type="application/pdf")
        filename = summary_pdf_filename(self.summary, workspace_slug=slug)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class InboxView(WorkspaceMixin, TemplateView):
    """Every person's thread, "needs human eyes" first, then those waiting for a reply."""

    template_name = "agents/inbox.html"
    extra_context = {"nav": "inbox"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        threads = conversation_selectors.inbox_threads(workspace=self.workspace)
        context["threads"] = threads
        context["waiting"] = sum(1 for t in threads if t.waiting or t.needs_human)
        context["limit"] = conversation_selectors.INBOX_LIMIT
        context["drop_offs"] = conversation_selectors.drop_offs(workspace=self.workspace, now=timezone.now())
        now = timezone.now()
        context["topics"] = conversation_selectors.topic_counts(workspace=self.workspace, now=now)
        context["emerging"] = emerging_topics(workspace=self.workspace, now=now)
        context["emerging_people"] = MIN_PEOPLE
        context["silence_hours"] = int(conversation_selectors.SILENCE.total_seconds() // 3600)
        return context


class ThreadView(WorkspaceMixin, TemplateView):
    """One person's messages on every channel, in order with the real gaps (the replay), and the reply
    form (the person's last channel by default)."""

    template_name = "agents/thread.html"
    extra_context = {"nav": "inbox"}

    def _customer(self) -> Any:
        customer = identity_selectors.customer_get(workspace=self.workspace, pk=self.kwargs["pk"])
        if customer.status != CustomerStatus.LIVE:
            survivor = identity_selectors.customer_survivor(workspace=self.workspace, customer=customer)
            if survivor is None:
                raise Http404("No such customer.")
            return survivor
        return customer

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        customer = self._customer()
        rows = []
        previous = None
        for message in conversation_selectors.thread_messages(workspace=self.workspace, customer=customer):
            at = message.at  # type: ignore[attr-defined]  # annotated by thread_messages
            gap = relative_time(at - previous).removeprefix("T+") + " later" if previous else ""
            rows.append(
                {
                    "message": message,
                    "gap": "" if gap == "0 later" else gap,
                    "sentiment": sentiment_label(message.sentiment),
                }
            )
            previous = at
        context.update(
            customer=customer,
            rows=rows,
            reply_channel=conversation_selectors.last_reply_channel(workspace=self.workspace, customer=customer),
            channels=[(c.value, c.label) for c in (Channel.SMS, Channel.WHATSAPP, Channel.EMAIL)]
            + (
                [(Channel.WEB.value, Channel.WEB.label)]
                if conversation_selectors.widget_visitor_id(workspace=self.workspace, customer=customer)
                else []
            ),
            qualified=conversation_selectors.qualify_summary(workspace=self.workspace, customer=customer),
            refund_mood=refund_mood(workspace=self.workspace, customer=customer),
            needs_human=any(
                c.needs_human
                for c in conversation_selectors.conversations_of(workspace=self.workspace, customer=customer)
            ),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = self._customer()
        template = None
        if request.POST.get("template_sid", "").strip():
            lines = request.POST.get("template_variables", "").splitlines()
            pairs = [line.partition("=") for line in lines if line.strip()]
            template = {
                "content_sid": request.POST["template_sid"].strip(),
                "variables": {key.strip(): value.strip() for key, _, value in pairs},
            }
        try:
            conversation_reply(
                workspace=self.workspace,
                customer=customer,
                body=request.POST.get("body", ""),
                channel=request.POST.get("channel") or None,
                subject=request.POST.get("subject", ""),
                actor=request.user,  # type: ignore[arg-type]
                template=template,
            )
        except IntegrationInputError as exc:
            messages.error(request, f"Not sent: {exc}")
        else:
            messages.success(request, "Reply queued; its delivery status shows below.")
        return redirect("agents:thread", ws=self.workspace.slug, pk=customer.pk)


class AgentsSettingsView(WorkspaceMixin, TemplateView):
    """Switch each built-in agent on or off and set its timing and template (owners and admins)."""

    template_name = "agents/settings.html"
    min_role = Role.ADMIN
    extra_context = {"nav": "settings", "subnav": "agents"}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["agents"] = conversation_selectors.agents_of(workspace=self.workspace)
        context["actions"] = conversation_selectors.actions_recent(workspace=self.workspace)
        context["widget"] = conversation_selectors.widget_of(workspace=self.workspace)
        context["model_endpoint"] = conversation_selectors.model_endpoint_of(workspace=self.workspace)
        context["model_timeout"] = settings.CLARM_AGENT_MODEL_TIMEOUT_SECONDS
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("form") == "widget":
            try:
                widget_save(
                    workspace=self.workspace,
                    enabled=request.POST.get("enabled") == "on",
                    color=request.POST.get("color", ""),
                    greeting=request.POST.get("greeting", ""),
                )
            except WidgetInputError as exc:
                messages.error(request, f"Chat widget not saved: {exc}")
            else:
                messages.success(request, "Chat widget saved.")
            return redirect("agents:settings", ws=self.workspace.slug)
        if request.POST.get("form") == "model":
            try:
                model_endpoint_save(
                    workspace=self.workspace,
                    enabled=request.POST.get("enabled") == "on",
                    url=request.POST.get("url", ""),
                    secret=request.POST.get("secret", ""),
                    actor=request.user,  # type: ignore[arg-type]
                )
            except AgentInputError as exc:
                messages.error(request, f"Model endpoint not saved: {exc}")
            else:
                messages.success(request, "Model endpoint saved.")
            return redirect("agents:settings", ws=self.workspace.slug)
        name = request.POST.get("agent", "")
        spec = AGENTS.get(name)
        config: dict[str, Any] = {}
        if spec is not None:
            for key, default in spec.defaults.items():
                raw = request.POST.get(key, "").strip()
                if isinstance(default, int):
                    config[key] = int(raw) if raw.lstrip("-").isdigit() else raw
                else:
                    config[key] = raw
        try:
            agent_setting_save(
                workspace=self.workspace, agent=name, enabled=request.POST.get("enabled") == "on", config=config
            )
        except AgentInputError as exc:
            messages.error(request, f"Not saved: {exc}")
        else:
            messages.success(request, f"{spec.title if spec else name} agent saved.")
        return redirect("agents:settings", ws=self.workspace.slug)
