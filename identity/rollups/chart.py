"""A server-rendered SVG chart of new people per day, stacked by first-touch channel, with the
previous period's daily totals as a dashed line. Pure geometry: the template draws the shapes, CSS
classes give the colours (no inline styles)."""

import datetime
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 28


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    channel: str
    count: int
    date: datetime.date


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    grid: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, text) along the bottom
    previous_points: str = ""  # SVG polyline points
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    baseline: float = HEIGHT - BOTTOM


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    step = 1
    while step * 10 < value:
        step *= 10
    for multiple in (1, 2, 2.5, 5, 10):
        top = int(step * multiple)
        if top >= value and top % 4 == 0:
            return top
    return value + (-value) % 4


def people_chart(
    *, series: dict[datetime.date, dict[str, int]], channels: list[str], previous_daily: list[int]
) -> Chart:
    dates = sorted(series)
    totals = [sum(series[d].values()) for d in dates]
    top = _nice_max(max([*totals, *previous_daily, 0]))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(dates), 1)
    bar_w = max(1.0, slot * 0.72)
    chart = Chart()
    for step in range(5):
        value = top * step // 4
        chart.grid.append((round(chart.baseline - plot_h * value / top, 1), value))
    for index, date in enumerate(dates):
        x = LEFT + index * slot + (slot - bar_w) / 2
        y = chart.baseline
        for channel in channels:
            count = series[date].get(channel, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            chart.bars.append(Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), channel, count, date))
    marks = sorted({0, len(dates) // 2, len(dates) - 1}) if dates else []
    for index in marks:
        chart.labels.append((round(LEFT + index * slot + slot / 2, 1), dates[index].strftime("%-d %b")))
    if previous_daily and len(previous_daily) == len(dates):
        points = [
            f"{round(LEFT + i * slot + slot / 2, 1)},{round(chart.baseline - plot_h * v / top, 1)}"
            for i, v in enumerate(previous_daily)
        ]
        chart.previous_points = " ".join(points)
    return chart
