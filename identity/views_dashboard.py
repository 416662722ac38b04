"""The workspace's home: the dashboard. Thin: the period comes from the URL, the figures from
identity.rollups.selectors (rollups only), the chart geometry from identity.rollups.chart."""

import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.generic import TemplateView

from identity.channels import channel_label
from identity.models import RollupDimension
from identity.rollups.chart import people_chart
from identity.rollups.selectors import Period, dashboard_get
from identity.timeline import RUNG_BLURBS, RUNG_NAMES, money
from identity.views import bad_request
from workspaces.views_base import WorkspaceMixin
from workspaces.zones import workspace_zone

RANGES = {"7": 7, "28": 28, "90": 90}
DEFAULT_RANGE = "28"
MAX_DAYS = 366


def period_from(request: HttpRequest, today: datetime.date) -> tuple[Period, str]:
    """(period, range key or "custom"); raises ValueError naming the bad parameter."""
    start_text, end_text = request.GET.get("start", "").strip(), request.GET.get("end", "").strip()
    if start_text or end_text:
        try:
            start = datetime.date.fromisoformat(start_text)
            end = datetime.date.fromisoformat(end_text) if end_text else today
        except ValueError as exc:
            raise ValueError("start and end must be dates like 2026-03-31.") from exc
        if end < start:
            raise ValueError("end must not be before start.")
        if (end - start).days + 1 > MAX_DAYS:
            raise ValueError(f"A period can be at most {MAX_DAYS} days.")
        return Period(start=start, end=end), "custom"
    key = request.GET.get("range", DEFAULT_RANGE).strip()
    if key not in RANGES:
        raise ValueError(f"range must be one of {', '.join(RANGES)} (days), not “{key[:10]}”.")
    return Period(start=today - datetime.timedelta(days=RANGES[key] - 1), end=today), key


def change(now: int, before: int) -> str:
    """ "+12%" / "−5%" / "new" / "no change" against the previous period."""
    if now == before:
        return "no change"
    if not before:
        return "new"
    pct = round(100 * (now - before) / before)
    return f"+{pct}%" if pct > 0 else f"−{abs(pct)}%"


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600, 1):g} h"
    return f"{round(seconds / 86400, 1):g} days"


class DashboardView(WorkspaceMixin, TemplateView):
    template_name = "identity/dashboard.html"
    extra_context = {"nav": "dashboard"}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        today = timezone.now().astimezone(workspace_zone(self.workspace.timezone)).date()
        try:
            period, range_key = period_from(request, today)
        except ValueError as exc:
            return bad_request(request, str(exc))
        data = dashboard_get(workspace=self.workspace, period=period)
        channel_order = [key for key, _, _ in data.channels]
        chart = people_chart(series=data.series, channels=channel_order, previous_daily=data.previous_daily)
        customers_url = reverse("identity:customers", kwargs={"ws": self.workspace.slug})
        context = self.get_context_data(
            data=data,
            range_key=range_key,
            ranges=[(key, f"Last {days} days") for key, days in RANGES.items()],
            chart=chart,
            legend=[(key, channel_label(key)) for key in channel_order],
            table_rows=[
                (date, [data.series[date].get(key, 0) for key in channel_order], sum(data.series[date].values()))
                for date in sorted(data.series)
            ],
            channels=[
                {"key": key, "label": channel_label(key), "now": now, "before": before, "change": change(now, before)}
                for key, now, before in data.channels
            ],
            campaigns=[
                {"name": name, "now": now, "before": before, "change": change(now, before)}
                for name, now, before in data.campaigns
            ],
            kpis=[
                ("New people", f"{data.new_people:,}", change(data.new_people, data.new_people_before)),
                ("Reached rung 4", f"{data.converted:,}", change(data.converted, data.converted_before)),
                (
                    "Revenue from them",
                    money(data.revenue_minor, data.currency, minor_units=True),
                    change(data.revenue_minor, data.revenue_minor_before),
                ),
            ],
            funnel=[
                {
                    "rung": step.rung,
                    "name": RUNG_NAMES[step.rung],
                    "blurb": RUNG_BLURBS[step.rung],
                    "people": step.people,
                    "share": step.share,
                    "bar": max(step.share, 0.5) if step.people else 0,
                    "conversion": step.conversion,
                    "median": duration_words(step.median_seconds),
                    "url": f"{customers_url}?rung={step.rung}",
                }
                for step in data.funnel
            ],
            dropoff=[
                {
                    "rung": row.rung,
                    "rung_name": RUNG_NAMES[row.rung],
                    "kind": row.kind,
                    "label": row.label,
                    "people": row.people,
                    "share": row.share,
                    "url": f"{customers_url}?rung={row.rung}",
                }
                for row in data.dropoff
            ],
            attribution=[
                {
                    "channel": channel_label(row.channel),
                    "campaign": row.campaign,
                    "people": row.people,
                    "revenue": money(row.revenue_minor, data.currency, minor_units=True),
                }
                for row in data.attribution
            ],
            last_touch=[
                {
                    "channel": channel_label(row.channel),
                    "people": row.people,
                    "revenue": money(row.revenue_minor, data.currency, minor_units=True),
                }
                for row in data.last_touch
            ],
            tops=[
                ("Top pages", "Page", data.top[RollupDimension.PAGE]),
                ("Top countries", "Country", data.top[RollupDimension.COUNTRY]),
                ("Devices", "Device", data.top[RollupDimension.DEVICE]),
            ],
        )
        return self.render_to_response(context)
