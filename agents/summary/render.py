"""The summary as HTML (email and preview page), plain text and a one-page PDF (WeasyPrint)."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from agents.summary.periods import days_label
from agents.summary.selectors import Change, WeeklySummary
from identity.timeline import money

if TYPE_CHECKING:
    from weasyprint.document import Document


def summary_subject(summary: WeeklySummary) -> str:
    return f"[Clarm] {summary.workspace_name}: your week to {summary.period.last_day:%a %-d %b}"


CHANGE_COLORS = {"up": "#12805c", "down": "#b42318", "flat": "#667085"}
# Gaps read the other way round: fewer people stuck or waiting is good news.
GAP_COLORS = {"up": "#b42318", "down": "#12805c", "flat": "#667085"}
BAR_PX = 40  # the busiest hour's bar
STEP_WORDS = {"Page": "last on {}", "Message": "last: {}", "Step": "last: {}"}


def _change(change: Change, *, gap: bool = False) -> dict[str, Any]:
    return {
        "change": change,
        "tone": (GAP_COLORS if gap else CHANGE_COLORS)[change.direction],
        "delta": change.label,
    }


def count(n: int) -> str:
    return f"{n:,}"


def _win(label: str, change: Change, text: Callable[[int], str]) -> dict[str, Any]:
    return {"label": label, "value": text(change.current), "before": text(change.previous), **_change(change)}


def summary_context(summary: WeeklySummary, *, workspace_slug: str) -> dict[str, Any]:
    """What the three templates show, as text and colours, so the templates stay plain."""
    currency = summary.currency

    def cash(minor: int) -> str:
        return money(minor, currency, minor_units=True)

    base = settings.CLARM_PUBLIC_URL
    customers_url = base + reverse("identity:customers", kwargs={"ws": workspace_slug})
    best = summary.best_campaign
    return {
        "summary": summary,
        "period_label": days_label(summary.period.first_day, summary.period.last_day),
        "zone": summary.period.zone.key,
        "wins": [
            _win("New customers", summary.new_customers, count),
            _win("Revenue", summary.revenue, cash),
            _win("Bookings", summary.bookings, count),
            _win("New people", summary.new_people, count),
        ],
        "best_campaign": best
        and {
            "name": best.name,
            "customers": best.customers.current,
            "customers_before": best.customers.previous,
            "revenue": cash(best.revenue_minor) if best.revenue_minor else "",
            "new_people": best.new_people.current,
            **_change(best.customers if best.customers.current else best.new_people),
        },
        "channels": [
            {
                "label": row.label,
                "new_people": row.new_people.current,
                "customers": row.customers.current,
                "revenue": cash(row.revenue_minor) if row.revenue_minor else "",
                "people_change": _change(row.new_people),
                "customers_change": _change(row.customers),
            }
            for row in summary.channels
        ],
        "hour_bars": [
            {"px": max(1, round(hour.share * BAR_PX / 100)) if hour.count else 0, "top": hour in summary.busiest}
            for hour in summary.hours
        ],
        "busiest": summary.busiest,
        "busiest_before": summary.busiest_before,
        "actions": _change(summary.actions),
        "pages": [{"path": row.path, "views": row.views.current, **_change(row.views)} for row in summary.top_pages],
        "stuck": [
            {
                "label": group.label,
                "people": group.people.current,
                "before": group.people.previous,
                "step": STEP_WORDS.get(group.step_kind, "last: {}").format(group.step_label)
                if group.step_label
                else "",
                "url": f"{customers_url}?rung={max(group.rungs)}" if len(group.rungs) == 1 else "",
                **_change(group.people, gap=True),
            }
            for group in summary.stuck
        ],
        "unanswered": _change(summary.unanswered, gap=True),
        "waiting": [
            {
                "name": waiting.name or f"Customer {waiting.customer_id}",
                "channel": waiting.channel,
                "since": f"{waiting.since.astimezone(summary.period.zone):%a %H:%M}",
                "url": base + reverse("agents:thread", kwargs={"ws": workspace_slug, "pk": waiting.customer_id}),
            }
            for waiting in summary.waiting
        ],
        "unsold": [
            {"name": topic.name, "asked": topic.asked.current, **_change(topic.asked, gap=True)}
            for topic in summary.unsold
        ],
        "agents_url": base + reverse("agents:settings", kwargs={"ws": workspace_slug}),
        "inbox_url": base + reverse("agents:inbox", kwargs={"ws": workspace_slug}),
        "workspace_url": base + reverse("agents:summary", kwargs={"ws": workspace_slug}),
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
    return f"clarm-summary-{workspace_slug}-{summary.period.last_day:%Y-%m-%d}.pdf"
