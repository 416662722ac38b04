"""Tagging inbound messages with the workspace's FAQ topics (the FAQ topics agent, agents/registry.py).

A topic is a line “Topic: word, phrase, …”; a message is about the topic when it contains one of the
words or phrases as whole words, in any case. Measured on a labelled set of small-business messages
(docs/agents.md, tests/agents/test_topic_tagging.py).
"""

import re
from typing import Any


def topics_parse(text: str) -> dict[str, re.Pattern[str]]:
    """“Topic: word, phrase” lines → one whole-word, case-insensitive pattern per topic."""
    topics: dict[str, re.Pattern[str]] = {}
    for line in (text or "").splitlines():
        name, _, words = line.partition(":")
        terms = [w.strip() for w in words.split(",") if w.strip()]
        if name.strip() and terms:
            alternatives = "|".join(re.escape(term) for term in terms)
            topics[name.strip()[:60]] = re.compile(rf"\b(?:{alternatives})(?:s|es)?\b", re.IGNORECASE)
    return topics


def topics_match(text: str, topics: dict[str, re.Pattern[str]]) -> list[str]:
    return [name for name, pattern in topics.items() if pattern.search(text or "")]


def faq_topics(config: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    """Every topic the FAQ topics agent tags with: the FAQ topics, then the topics not sold."""
    return {**topics_parse(config.get("topics", "")), **topics_parse(config.get("not_sold", ""))}
