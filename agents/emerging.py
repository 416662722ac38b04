"""Emerging topics: what people keep asking about that none of the workspace's FAQ topics covers
(“things we don't sell yet”, e.g. several people asking about piano moving when the business lists no such topic).

Inbound questions of the last 4 weeks that match no FAQ topic (nor a topic not sold) are grouped by
the words they share: TF-IDF vectors (scikit-learn's `TfidfVectorizer`, English stop words, plurals
folded) clustered by `AgglomerativeClustering` (average linkage, cosine distance, cut at `DISTANCE`).
A group becomes a topic when at least `MIN_PEOPLE` different people asked. Each topic is labelled by
its heaviest words and shown with the question nearest its centre.

Runs when the Inbox is viewed, on at most `CLUSTER_LIMIT` questions (read from at most `SCAN_LIMIT`
untagged messages), so its cost is bounded whatever the workspace's volume (docs/agents.md).
Measured on a labelled set of questions with known groups (tests/agents/test_emerging.py).
"""

import datetime
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.models import AgentSetting, Direction, Message
from agents.registry import FAQ_TOPICS, agent_config
from agents.topics import faq_topics, topics_match
from workspaces.models import Workspace

WINDOW = datetime.timedelta(days=28)
WEEK = datetime.timedelta(days=7)
SCAN_LIMIT = 2000  # most recent untagged inbound messages read
CLUSTER_LIMIT = 500  # most recent questions among them clustered (the distance matrix is n²)
DISTANCE = 0.8  # average cosine distance under which questions are one group (1 = no word in common)
MIN_PEOPLE = 3
SHOWN = 10
EXAMPLES = 3
LABEL_TERMS = 3

# A question or a request: a question mark, or a message opening the way questions do.
QUESTION = re.compile(
    r"\?|^\W*(?:do|does|can|could|would|will|is|are|any|how|what|when|where|which|who|why|need|looking)\b",
    re.IGNORECASE,
)
# Chat words that say nothing about what is asked for (beyond the English stop words).
CHAT_WORDS = frozenset(
    [
        "guys",
        "hi",
        "hey",
        "hello",
        "pls",
        "please",
        "thanks",
        "thank",
        "need",
        "looking",
        "want",
        "possible",
        "something",
        "doable",
        "does",
        "anyone",
        "really",
        "thing",
        "lot",
        "just",
        "like",
        "know",
    ]
)


@functools.cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # see questions_cluster

    return frozenset(ENGLISH_STOP_WORDS | CHAT_WORDS)


WORD = re.compile(r"[a-z]+")
# Plural endings folded: "pianos" → "piano", "lashes" → "lash", "batteries" → "battery"; not "glass", "bus".
PLURAL = re.compile(r"ies$|(?:(?<=sh)|(?<=ch)|(?<=ss)|(?<=x)|(?<=z))es$|(?<![su])s$")


def question_terms(text: str) -> list[str]:
    """The words of a question that say what it is about: lowercase, no stop words, plurals folded."""
    terms = []
    stop_words = _stop_words()
    for word in WORD.findall(text.lower()):
        if word in stop_words:
            continue
        word = PLURAL.sub(_singular, word) if len(word) > 3 else word
        if len(word) > 2 and word not in stop_words:
            terms.append(word)
    return terms


def _singular(match: re.Match[str]) -> str:
    return {"ies": "y", "es": ""}.get(match.group(0), "")


@dataclass(frozen=True)
class QuestionCluster:
    members: list[int]  # indexes into the questions, the one nearest the centre first
    terms: list[str]  # the heaviest words, for the label


def questions_cluster(questions: Sequence[str]) -> list[QuestionCluster]:
    """Groups of 2 or more questions asking about the same thing, largest first."""
    if len(questions) < 2:
        return []
    # scikit-learn (and numpy, scipy) load here, not at import: every process that loads the URLs
    # (the edge's web workers, the Celery workers) would otherwise pay ~130 MB and seconds of start-up
    # for a page only owners open. Not an import cycle being dodged: a heavy library loaded on use.
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_distances

    vectorizer = TfidfVectorizer(tokenizer=question_terms, token_pattern=None, lowercase=False, sublinear_tf=True)
    try:
        vectors = vectorizer.fit_transform(questions)
    except ValueError:  # not one word left in any question
        return []
    worded = np.flatnonzero(vectors.getnnz(axis=1))  # a question of stop words only joins nothing
    if len(worded) < 2:
        return []
    vectors = vectors[worded]
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=DISTANCE, metric="precomputed", linkage="average"
    ).fit_predict(cosine_distances(vectors))
    vocabulary = vectorizer.get_feature_names_out()
    clusters = []
    for label in set(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        if len(rows) < 2:
            continue
        centre = np.asarray(vectors[rows].mean(axis=0)).ravel()
        nearest = np.argsort(-(vectors[rows] @ centre), kind="stable")
        # The label: the heaviest words that at least 2 of the questions use (the heaviest one at least).
        shared = np.asarray((vectors[rows] > 0).sum(axis=0)).ravel() >= 2
        heaviest = [i for n, i in enumerate(np.argsort(-centre, kind="stable")) if n == 0 or shared[i]]
        clusters.append(
            QuestionCluster(
                members=[int(worded[rows[i]]) for i in nearest],
                terms=[str(vocabulary[i]) for i in heaviest[:LABEL_TERMS]],
            )
        )
    return sorted(clusters, key=lambda c: (-len(c.members), c.members[0]))


@dataclass
class EmergingTopic:
    label: str
    example: str
    people: int  # different people who asked, in the last 4 weeks
    this_week: int  # questions in the last 7 days
    last_week: int  # and in the 7 before
    examples: list[str] = field(default_factory=list)

    @property
    def change(self) -> int:
        return self.this_week - self.last_week


def emerging_topics(*, workspace: Workspace, now: datetime.datetime) -> list[EmergingTopic] | None:
    """The workspace's emerging topics, most asked this week first; None while the FAQ topics agent is off."""
    setting = AgentSetting.objects.filter(workspace=workspace, agent=FAQ_TOPICS.name, enabled=True).first()
    if setting is None:
        return None
    topics = faq_topics(agent_config(FAQ_TOPICS, setting.config))
    rows = (
        Message.objects.filter(
            workspace=workspace, direction=Direction.IN, topics=[], created_at__gt=now - WINDOW, created_at__lte=now
        )
        .order_by("-created_at", "-pk")
        .values_list("body", "customer_id", "created_at")[:SCAN_LIMIT]
    )
    # Matched again with today's topics: a message of before the agent was on, or of a topic added since.
    asked = [row for row in rows if QUESTION.search(row[0] or "") and not topics_match(row[0], topics)]
    asked = asked[:CLUSTER_LIMIT]
    found = []
    for cluster in questions_cluster([body for body, _, _ in asked]):
        members = [asked[i] for i in cluster.members]
        people = len({customer for _, customer, _ in members})
        if people < MIN_PEOPLE:
            continue
        bodies = list(dict.fromkeys(body.strip() for body, _, _ in members))
        found.append(
            EmergingTopic(
                label=", ".join(cluster.terms),
                example=bodies[0],
                people=people,
                this_week=sum(1 for _, _, at in members if at > now - WEEK),
                last_week=sum(1 for _, _, at in members if now - 2 * WEEK < at <= now - WEEK),
                examples=bodies[1 : 1 + EXAMPLES],
            )
        )
    found.sort(key=lambda t: (-t.this_week, -t.people, t.label))
    return found[:SHOWN]
