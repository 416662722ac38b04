"""How a person's sentiment moved over their refund thread: the read and the chart's geometry.

The refund thread is every inbound message of the person (all channels, with the customers merged into
them) from the message that started the person's latest Refund handler action that was done (its
trigger `message:<id>`) onward, in the order they happened (sent time, else stored time; then id).
Outbound messages carry no score and are not points. The chart is drawn server-side as inline SVG
(agents/thread.html) with a table of the same points for screen readers and a sentence in words."""

import datetime
from dataclasses import dataclass

from django.db.models import Q
from django.db.models.functions import Coalesce

from agents.models import ActionStatus, Direction, Message, ScheduledAction
from agents.registry import REFUND_HANDLER
from agents.selectors import thread_customer_ids
from agents.sentiment import sentiment_label
from identity.models import Customer
from workspaces.models import Workspace

# Points on the chart and in its table: the latest ones (the words still start at the request). A
# thread is read up to its first POINTS_READ messages.
POINTS_SHOWN = 50
POINTS_READ = 500
# A change of the score larger than this between the first and the latest message is a trend.
TREND_STEP = 0.1
WIDTH, HEIGHT, PAD_X, PAD_Y = 600, 160, 36, 14
PLOT_LEFT, PLOT_RIGHT = PAD_X + 10, WIDTH - 14
EXCERPT_CHARS = 80


@dataclass(frozen=True)
class MoodPoint:
    message_id: int
    at: datetime.datetime
    score: float
    label: str
    excerpt: str
    x: float
    y: float

    @property
    def score_text(self) -> str:
        return score_text(self.score)


@dataclass(frozen=True)
class RefundMood:
    started_at: datetime.datetime
    points: list[MoodPoint]  # the latest POINTS_SHOWN, oldest first
    total: int  # points in the whole refund thread
    words: str
    trend: str  # "improving", "worsening", "about the same" or "" (one message)

    width: int = WIDTH
    height: int = HEIGHT

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def axis(self) -> list[tuple[str, float]]:
        """(label, y) of the +1, 0 and -1 lines."""
        return [("+1", y_of(1.0)), ("0", y_of(0.0)), ("-1", y_of(-1.0))]

    @property
    def left(self) -> int:
        return PAD_X

    @property
    def right(self) -> int:
        return WIDTH - 4


def score_text(score: float) -> str:
    return f"{round(score, 2) + 0.0:.2f}"  # + 0.0: never "-0.00"


def y_of(score: float) -> float:
    return PAD_Y + (1 - max(-1.0, min(1.0, score))) / 2 * (HEIGHT - 2 * PAD_Y)


def x_of(index: int, count: int) -> float:
    """Points evenly spaced in message order (the times are in the table): a burst of messages in one
    minute and a reply days later stay readable."""
    if count <= 1:
        return (PLOT_LEFT + PLOT_RIGHT) / 2
    return PLOT_LEFT + index * (PLOT_RIGHT - PLOT_LEFT) / (count - 1)


def mood_words(scores: list[float]) -> tuple[str, str]:
    """("From negative (-0.71) to positive (0.62) over 4 messages: improving.", "improving")."""
    first, last = scores[0], scores[-1]
    if len(scores) == 1:
        return f"One message since the refund request: {sentiment_label(first)} ({score_text(first)}).", ""
    change = last - first
    trend = "improving" if change > TREND_STEP else "worsening" if change < -TREND_STEP else "about the same"
    return (
        f"From {sentiment_label(first)} ({score_text(first)}) to {sentiment_label(last)} ({score_text(last)}) "
        f"over {len(scores)} messages: {trend}.",
        trend,
    )


def refund_mood(*, workspace: Workspace, customer: Customer) -> RefundMood | None:
    """The person's refund thread with its sentiment points, or None when the Refund handler never
    handled a message of theirs."""
    ids = thread_customer_ids(workspace=workspace, customer=customer)
    triggers = ScheduledAction.objects.filter(
        workspace=workspace,
        agent=REFUND_HANDLER.name,
        customer_id__in=ids,
        status=ActionStatus.DONE,
        trigger__startswith="message:",
    ).values_list("trigger", flat=True)
    message_ids = [int(t.partition(":")[2]) for t in triggers if t.partition(":")[2].isdigit()]
    inbound = Message.objects.filter(workspace=workspace, customer_id__in=ids, direction=Direction.IN).annotate(
        at=Coalesce("sent_at", "created_at")
    )
    start = inbound.filter(pk__in=message_ids).order_by("-at", "-pk").first()
    if start is None:
        return None
    started_at: datetime.datetime = start.at
    rows = [
        (pk, at, float(score), body)
        for pk, at, score, body in inbound.filter(
            Q(at__gt=started_at) | Q(at=started_at, pk__gte=start.pk), sentiment__isnull=False
        )
        .order_by("at", "pk")
        .values_list("pk", "at", "sentiment", "body")[:POINTS_READ]
        if score is not None
    ]
    if not rows:
        return None
    words, trend = mood_words([score for _, _, score, _ in rows])
    shown = rows[-POINTS_SHOWN:]
    points = [
        MoodPoint(
            message_id=pk,
            at=at,
            score=score,
            label=sentiment_label(score),
            excerpt=" ".join((body or "").split())[:EXCERPT_CHARS],
            x=x_of(index, len(shown)),
            y=y_of(score),
        )
        for index, (pk, at, score, body) in enumerate(shown)
    ]
    return RefundMood(started_at=started_at, points=points, total=len(rows), words=words, trend=trend)
