"""The summary as HTML (email and preview page), plain text and a one-page PDF (WeasyPrint)."""

import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from agents.summary.selectors import WeeklySummary

if TYPE_CHECKING:
    from weasyprint.document import Document


def summary_subject(summary: WeeklySummary) -> str:
    end = summary.period.end_local
    return f"[Clarm] {summary.workspace_name}: your week to {end:%a %-d %b}"


RUNG_COLORS = {"0": "#98a2b3", "1": "#7a5af8", "2": "#2e90fa", "3": "#12b76a", "4": "#f79009"}
SOURCE_COLORS = {
    "web": "#3538cd",
    "email": "#c11574",
    "channel": "#027a48",
    "agent": "#5925dc",
    "webhook": "#b54708",
    "pixel": "#026aa2",
    "ad": "#b42318",
}
CHANGE_COLORS = {"up": "#12805c", "down": "#b42318", "flat": "#667085"}


def _when(moment: datetime.datetime) -> str:
    # Formatted here, in the workspace's zone: the template filters would use the server's zone.
    return f"{moment:%a %-d %b %Y, %H:%M}"


def summary_context(summary: WeeklySummary, *, workspace_slug: str) -> dict[str, Any]:
    """What the three templates show; colours are resolved here so the templates stay plain."""
    reached = dict((row.key, change) for row, change in summary.reached)
    return {
        "summary": summary,
        "period_label": f"{_when(summary.period.start_local)} – {_when(summary.period.end_local)}",
        "zone": summary.period.zone.key,
        "tiles": [
            {"label": label, "change": change, "tone": CHANGE_COLORS[change.direction]}
            for label, change in (
                ("New customers", summary.new_customers),
                ("Events", summary.events),
                ("Reached email", reached["2"]),
                ("Reached account", reached["4"]),
            )
        ],
        "ladder": [{"row": row, "color": RUNG_COLORS[row.key]} for row in summary.ladder],
        "reached": [
            {"row": row, "change": change, "color": RUNG_COLORS[row.key], "tone": CHANGE_COLORS[change.direction]}
            for row, change in summary.reached
        ],
        "sources": [
            {
                "row": row,
                "change": change,
                "color": SOURCE_COLORS.get(row.key, "#667085"),
                "tone": CHANGE_COLORS[change.direction],
            }
            for row, change in summary.sources
        ],
        "workspace_url": settings.CLARM_PUBLIC_URL + reverse("agents:summary", kwargs={"ws": workspace_slug}),
    }


def summary_html(summary: WeeklySummary, *, workspace_slug: str) -> str:
    return render_to_string("agents/summary/email.html", summary_context(summary, workspace_slug=workspace_slug))


def summary_text(summary: WeeklySummary, *, workspace_slug: str) -> str:
    return render_to_string("agents/summary/email.txt", summary_context(summary, workspace_slug=workspace_slug))


def summary_pdf_document(summary: WeeklySummary, *, workspace_slug: str) -> "Document":
    """The laid-out PDF (its `pages` tell whether the report fits on one page)."""
    # Imported here: WeasyPrint loads Pango at import, which only the PDF path needs.
    from weasyprint import HTML

    html = render_to_string("agents/summary/pdf.html", summary_context(summary, workspace_slug=workspace_slug))
    return HTML(string=html, base_url=str(settings.BASE_DIR)).render()


def summary_pdf(summary: WeeklySummary, *, workspace_slug: str) -> bytes:
    pdf = summary_pdf_document(summary, workspace_slug=workspace_slug).write_pdf()
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return pdf


def summary_pdf_filename(summary: WeeklySummary, *, workspace_slug: str) -> str:
    return f"clarm-summary-{workspace_slug}-{summary.period.end_local:%Y-%m-%d}.pdf"
