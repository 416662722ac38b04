"""Sentiment of a message: VADER's lexicon and rules (`vaderSentiment`, offline, no model download).

The score is VADER's compound score, from -1 (most negative) to +1 (most positive); the label uses
VADER's published thresholds: ≤ -0.05 negative, ≥ 0.05 positive, else neutral. Measured on the
labelled set in tests/agents/fixtures (docs/agents.md): short questions and logistics read as
neutral; sarcasm and negative facts without negative words ("the truck never came") are missed.
"""

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

NEGATIVE_AT = -0.05
POSITIVE_AT = 0.05


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # reads the lexicon once per process


def sentiment_score(text: str) -> float:
    return round(float(_analyzer().polarity_scores(text or "")["compound"]), 3)


def sentiment_label(score: float | None) -> str:
    if score is None:
        return ""
    if score <= NEGATIVE_AT:
        return "negative"
    if score >= POSITIVE_AT:
        return "positive"
    return "neutral"
