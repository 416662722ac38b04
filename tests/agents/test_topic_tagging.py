"""How well the FAQ topics agent tags messages: precision and recall of the default topics on labelled
small-business messages (movers, cleaners, salons, plumbers), per topic and micro-averaged."""

from pathlib import Path

import pytest

from agents.registry import FAQ_TOPICS
from agents.topics import faq_topics, topics_match

FIXTURES = Path(__file__).parent / "fixtures"
TOPICS = ("Pricing", "Availability", "Reschedule", "Payment")


def labelled(name: str) -> list[tuple[set[str], str]]:
    rows = []
    for line in (FIXTURES / name).read_text().splitlines():
        if line and not line.startswith("#"):
            labels, text = line.split("\t", 1)
            rows.append((set() if labels == "-" else set(labels.split(",")), text))
    return rows


def scores(rows: list[tuple[set[str], str]]) -> dict[str, tuple[float, float]]:
    """(precision, recall) per topic and "micro" (every topic's hits, misses and false tags pooled)."""
    patterns = faq_topics(FAQ_TOPICS.defaults)
    counts = {name: [0, 0, 0] for name in patterns}  # hits, tagged wrongly, missed
    for truth, text in rows:
        found = set(topics_match(text, patterns))
        for name, count in counts.items():
            count[0] += name in truth and name in found
            count[1] += name in found and name not in truth
            count[2] += name in truth and name not in found
    pooled = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {
        name: (hits / (hits + wrong) if hits + wrong else 1.0, hits / (hits + missed))
        for name, (hits, wrong, missed) in [*counts.items(), ("micro", pooled)]
    }


def test_the_labelled_sets_are_real_shaped():
    rows = labelled("topics_labelled.tsv")
    assert len(rows) >= 200
    assert {t for truth, _ in rows for t in truth} == set(TOPICS) == set(faq_topics(FAQ_TOPICS.defaults))
    assert sum(1 for truth, _ in rows if not truth) >= 50  # messages about none of them
    assert sum(1 for truth, _ in rows if len(truth) > 1) >= 10  # about two at once
    held_out = labelled("topics_heldout.tsv")
    assert len(held_out) >= 50 and not {text for _, text in rows} & {text for _, text in held_out}


# Measured 2026-12-06 (docs/agents.md); the floors are the figures rounded down to 2 decimals.
@pytest.mark.parametrize(
    ("fixture", "floors"),
    [
        (
            "topics_labelled.tsv",
            {
                "Pricing": (0.94, 0.87),
                "Availability": (0.94, 0.39),
                "Reschedule": (1.0, 0.68),
                "Payment": (0.97, 0.84),
                "micro": (0.96, 0.71),
            },
        ),
        (
            "topics_heldout.tsv",
            {
                "Pricing": (1.0, 0.92),
                "Availability": (1.0, 0.07),
                "Reschedule": (1.0, 0.87),
                "Payment": (1.0, 1.0),
                "micro": (1.0, 0.70),
            },
        ),
    ],
)
def test_default_topics_meet_the_measured_precision_and_recall(fixture, floors):
    measured = scores(labelled(fixture))
    for name, (precision, recall) in floors.items():
        assert measured[name][0] >= precision, (name, "precision", measured[name])
        assert measured[name][1] >= recall, (name, "recall", measured[name])


def test_plurals_of_a_topic_word_match_but_longer_words_do_not():
    patterns = faq_topics({"topics": "Pricing: price, estimate\nPayment: card"})
    assert topics_match("Prices and estimates for a 4 bedroom?", patterns) == ["Pricing"]
    assert topics_match("Do you take credit cards?", patterns) == ["Payment"]
    assert topics_match("Priceless work, and the cardigan you left is here", patterns) == []
