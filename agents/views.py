"""The workspace's weekly summary: the HTML preview and its PDF, for every member."""

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from agents.summary.render import summary_context, summary_pdf, summary_pdf_filename
from agents.summary.selectors import WeeklySummary, recent_week_keys, weekly_summary_for
from agents.summary.services import summary_recipients
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
        context["recent_weeks"] = recent_week_keys(workspace=self.workspace, now=timezone.now())
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
