"""The intent score (0-100) and the enterprise score (0-100): pure functions, documented in
docs/enrichment.md. Inputs are plain values so the formula is tested on its own."""

import datetime
import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

HALF_LIFE_DAYS = 7.0
# Page patterns (a regular expression searched in the URL path, case-insensitive) and the points of
# one view, fresh. The owner edits them in Settings → Enrichment; the first matching pattern counts.
DEFAULT_PAGE_WEIGHTS: list[dict[str, Any]] = [
    {"label": "pricing", "pattern": r"pricing|plans|price", "points": 8},
    {"label": "demo", "pattern": r"demo|trial", "points": 8},
    {"label": "booking", "pattern": r"book|schedule|calendar|appointment", "points": 8},
    {"label": "contact", "pattern": r"contact|quote|talk-to|sales", "points": 7},
    {"label": "case studies", "pattern": r"case-stud|customers|testimonial", "points": 3},
    {"label": "product", "pattern": r"product|features|services|solutions|integrations", "points": 2},
]
OTHER_PAGE_POINTS = 1.0
PAGE_POINTS_CAP = 60.0
WIDGET_POINTS = {"widget_opened": ("widget opened", 5.0, 10.0), "message_sent": ("message sent", 8.0, 24.0)}
ENTERPRISE_WEIGHT = 0.15  # enterprise score 100 → +15
RUNG_POINTS = 3.0  # per rung: email +6, phone +9, account +12
MAX_PATTERN_LENGTH = 200
MAX_PAGE_WEIGHTS = 30


class BadWeights(ValueError):
    pass


@dataclass(frozen=True)
class Signal:
    event: str
    occurred_at: datetime.datetime
    url: str = ""


@dataclass(frozen=True)
class Tally:
    """`count` signals of one kind on one URL, weighing `weight` together today (the sum of their
    recency weights): what the database sums per person, so the rows never travel one by one."""

    event: str
    url: str
    count: int
    weight: float


@dataclass
class Part:
    label: str
    count: int = 0
    points: float = 0.0

    def text(self) -> str:
        times = f" ×{self.count}" if self.count > 1 else ""
        return f"{self.label}{times}: +{round(self.points)}"


@dataclass
class IntentResult:
    score: int
    parts: list[Part] = field(default_factory=list)

    def explanation(self) -> list[dict[str, Any]]:
        return [
            {"label": p.label, "count": p.count, "points": round(p.points), "text": p.text()}
            for p in self.parts
            if round(p.points) > 0
        ]


def page_weights_validate(raw: object) -> list[dict[str, Any]]:
    """The owner's weights: a list of {"label", "pattern", "points" 0-50}; a clear error otherwise."""
    if not isinstance(raw, list) or not raw:
        raise BadWeights("Give at least one page pattern.")
    if len(raw) > MAX_PAGE_WEIGHTS:
        raise BadWeights(f"At most {MAX_PAGE_WEIGHTS} page patterns.")
    out = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise BadWeights(f"Pattern {i} must have a label, a pattern and points.")
        label = str(item.get("label", "")).strip()[:60]
        pattern = str(item.get("pattern", "")).strip()
        if not label or not pattern:
            raise BadWeights(f"Pattern {i} needs a label and a pattern.")
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise BadWeights(f"Pattern {i} ({label}) is longer than {MAX_PATTERN_LENGTH} characters.")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadWeights(f"Pattern {i} ({label}) is not a valid regular expression: {exc}.") from None
        try:
            points = float(item.get("points", ""))
        except (TypeError, ValueError):
            raise BadWeights(f"Pattern {i} ({label}): points must be a number.") from None
        if not 0 <= points <= 50 or math.isnan(points):
            raise BadWeights(f"Pattern {i} ({label}): points must be from 0 to 50.")
        out.append({"label": label, "pattern": pattern, "points": points})
    return out


_LN2_PER_SECOND = math.log(2) / (HALF_LIFE_DAYS * 86400)


def recency_weight(at: datetime.datetime, now: datetime.datetime) -> float:
    """0.5 ** (age in days / 7): a signal's weight today (1 when fresh, ½ a week later)."""
    return math.exp(-_LN2_PER_SECOND * max((now - at).total_seconds(), 0.0))


def _path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return ""


class PageRules:
    """Compiled page weights, with each URL's match remembered: a batch scores thousands of page
    views over a few hundred distinct URLs, and the regular expressions run once per URL."""

    _MEMO_MAX = 20_000

    def __init__(self, weights: list[dict[str, Any]]) -> None:
        self._compiled = [(w["label"], re.compile(w["pattern"], re.IGNORECASE), float(w["points"])) for w in weights]
        self._memo: dict[str, tuple[str, float] | None] = {}

    def match(self, url: str) -> tuple[str, float] | None:
        """(label, points) of the first pattern the URL's path matches; None for any other page."""
        try:
            return self._memo[url]
        except KeyError:
            pass
        path = _path(url)
        found = next(((label, points) for label, pattern, points in self._compiled if pattern.search(path)), None)
        if len(self._memo) >= self._MEMO_MAX:
            self._memo.clear()
        self._memo[url] = found
        return found


@functools.lru_cache(maxsize=64)
def _rules(key: str) -> PageRules:
    return PageRules(json.loads(key))


def page_rules(page_weights: list[dict[str, Any]] | None) -> PageRules:
    """The rules of these weights (the defaults when None), compiled once per process."""
    return _rules(json.dumps(page_weights or DEFAULT_PAGE_WEIGHTS, sort_keys=True))


def intent_compute(
    *,
    signals: list[Signal],
    page_weights: list[dict[str, Any]] | None,
    enterprise_score: int | None,
    rung: int,
    now: datetime.datetime,
) -> IntentResult:
    """The score of these signals as of `now` (each weighted by its recency)."""
    tallies = [Tally(s.event, s.url, 1, recency_weight(s.occurred_at, now)) for s in signals]
    return intent_from_tallies(
        tallies=tallies, rules=page_rules(page_weights), enterprise_score=enterprise_score, rung=rung
    )


def intent_from_tallies(
    *, tallies: list[Tally], rules: PageRules, enterprise_score: int | None, rung: int
) -> IntentResult:
    """The score of a person's signals, summed by kind and URL with their recency weights."""
    pages: dict[str, Part] = {}
    other = Part("other pages")
    widget: dict[str, Part] = {}
    for tally in tallies:
        if tally.event == "page_view":
            found = rules.match(tally.url)
            if found is None:
                other.count += tally.count
                other.points += OTHER_PAGE_POINTS * tally.weight
            else:
                label, points = found
                part = pages.get(label)
                if part is None:
                    part = pages[label] = Part(label)
                part.count += tally.count
                part.points += points * tally.weight
        elif tally.event in WIDGET_POINTS:
            label, points, _cap = WIDGET_POINTS[tally.event]
            part = widget.setdefault(tally.event, Part(label))
            part.count += tally.count
            part.points += points * tally.weight
    parts = sorted(pages.values(), key=lambda p: (-p.points, p.label)) + ([other] if other.count else [])
    page_total = sum(p.points for p in parts)
    if page_total > PAGE_POINTS_CAP:  # scale every page part down to the cap, keeping the proportions
        for p in parts:
            p.points *= PAGE_POINTS_CAP / page_total
    for event, part in widget.items():
        part.points = min(part.points, WIDGET_POINTS[event][2])
        parts.append(part)
    if enterprise_score:
        parts.append(Part(f"company profile ({enterprise_score}/100)", 1, enterprise_score * ENTERPRISE_WEIGHT))
    if rung > 0:
        parts.append(Part(f"identity rung {rung}", 1, rung * RUNG_POINTS))
    total = sum(p.points for p in parts)
    return IntentResult(score=max(0, min(100, round(total))), parts=parts)


# Enterprise score: employees band and revenue band (PDL's bands; a number of employees is read too).
_SIZE_POINTS: list[tuple[float, int]] = [(10, 10), (50, 25), (200, 45), (500, 60), (1000, 70), (5000, 80), (10000, 90)]
_REVENUE_POINTS = [(1e6, 5), (10e6, 20), (25e6, 35), (50e6, 50), (100e6, 60), (250e6, 70), (500e6, 80), (1e9, 90)]
# A business that has its own routed network but whose size we do not know.
UNKNOWN_SIZE_POINTS = 50
_AMOUNT = re.compile(r"\$?\s*(\d+(?:\.\d+)?)\s*([kmb])?", re.IGNORECASE)


def _band_points(value: float, bands: list[tuple[float, int]]) -> int:
    for upper, points in bands:
        if value <= upper:
            return points
    return 100


def _upper_number(text: str) -> float | None:
    """The larger figure of a band: "51-200" → 200, "$50M-$100M" → 1e8, "10001+" → 10001."""
    figures = []
    for number, unit in _AMOUNT.findall(text.replace(",", "")):
        scale = {"k": 1e3, "m": 1e6, "b": 1e9}.get(unit.lower(), 1.0) if unit else 1.0
        figures.append(float(number) * scale)
    return max(figures) if figures else None


def enterprise_score(company: dict[str, Any]) -> int | None:
    """0-100 = 0.6 × size points + 0.3 × revenue points + 10 if the company's domain is known.
    Size points by employees (≤10: 10, ≤50: 25, ≤200: 45, ≤500: 60, ≤1,000: 70, ≤5,000: 80,
    ≤10,000: 90, more: 100; unknown: 50); revenue points by yearly revenue (≤$1M: 5, ≤$10M: 20,
    ≤$25M: 35, ≤$50M: 50, ≤$100M: 60, ≤$250M: 70, ≤$500M: 80, ≤$1B: 90, more: 100; unknown: 0).
    None when there is no company."""
    if not company.get("name"):
        return None
    employees = _upper_number(str(company.get("size") or ""))
    size_points = _band_points(employees, _SIZE_POINTS) if employees else UNKNOWN_SIZE_POINTS
    revenue = _upper_number(str(company.get("revenue_range") or ""))
    revenue_points = _band_points(revenue, _REVENUE_POINTS) if revenue else 0
    return max(0, min(100, round(0.6 * size_points + 0.3 * revenue_points + (10 if company.get("domain") else 0))))
