"""The registry of named agents: what triggers each one, its conditions, the actions it logs, and the
settings a workspace can change (on/off, timing, template).

Every action an agent takes is a `source: "agent"` event on the customer's timeline, named by one of
`ACTION_NAMES` (external chatbots log theirs through `POST /api/agents/actions` with the same names or
their own snake_case ones). The agents are rule-based with templates: no language model is involved;
a workspace may plug in its own model endpoint for the messages none of them answers (MODEL_ENDPOINT).
"""

import re
from dataclasses import dataclass, field
from typing import Any

# Documented action names (docs/agents.md). External agents may log other snake_case names.
ACTION_NAMES = (
    "lead_qualified",
    "quote_sent",
    "booking_offered",
    "booking_taken",
    "booking_cancelled",
    "booking_rescheduled",
    "reminder_sent",
    "review_requested",
    "onboarding_sent",
    "refund_handled",
    "handoff_requested",
    "message_replied",
)
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
AGENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

# Inbound words that ask for a person (the Handoff agent), matched as whole words/phrases.
HANDOFF_PATTERN = re.compile(
    r"\b(?:real person|a human|human being|speak to (?:someone|somebody|a person|the owner|a manager)|"
    r"talk to (?:someone|somebody|a person|the owner|a manager)|call me|customer service|representative|"
    r"operator|agent please)\b",
    re.IGNORECASE,
)

# Inbound words that ask for money back (the Refund handler).
REFUND_PATTERN = re.compile(r"\b(?:refund|refunded|money back|charge ?back|reimburse(?:ment)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class AgentSpec:
    name: str
    title: str
    description: str
    # Event names (on the timeline) or "message_in" (an inbound message) that start the agent.
    triggers: tuple[str, ...]
    # Event names that cancel the agent's pending actions for that trigger.
    cancels: tuple[str, ...]
    action: str
    defaults: dict[str, Any] = field(default_factory=dict)


FOLLOW_UP = AgentSpec(
    name="follow_up",
    title="Follow-up",
    description="Sends a reminder by SMS (email when there is no phone) before each booking.",
    triggers=("booking_created",),
    cancels=("booking_cancelled",),
    action="reminder_sent",
    defaults={
        "hours_before": 24,
        "template": "Hi {first_name}, a reminder from {workspace}: see you {when}. Reply here if anything changes.",
    },
)
REVIEW_ASK = AgentSpec(
    name="review_ask",
    title="Review ask",
    description="The day after the job, one SMS asking for a review with the workspace's review link.",
    triggers=("booking_created",),
    cancels=("booking_cancelled",),
    action="review_requested",
    defaults={
        "send_hour": 10,
        "review_url": "",
        "template": "Thanks for choosing {workspace}, {first_name}! Would you leave us a quick review? {review_url}",
    },
)
HANDOFF = AgentSpec(
    name="handoff",
    title="Handoff",
    description="A message asking for a person puts the thread first in the Inbox, marked “needs human eyes”.",
    triggers=("message_in",),
    cancels=(),
    action="handoff_requested",
    defaults={},
)

ONBOARDING = AgentSpec(
    name="onboarding",
    title="Onboarding",
    description="After a person's first payment, one welcome message (email, SMS without an email).",
    triggers=("payment",),
    cancels=(),
    action="onboarding_sent",
    defaults={
        "hours_after": 1,
        "template": "Welcome aboard, {first_name}! Thanks for choosing {workspace}. Reply here with any question.",
    },
)
REFUND_HANDLER = AgentSpec(
    name="refund_handler",
    title="Refund handler",
    description="A message asking for a refund gets an answer asking for the reason, over the same channel, "
    "and the thread goes to the Inbox marked “needs human eyes”.",
    triggers=("message_in",),
    cancels=(),
    action="refund_handled",
    defaults={
        "template": "Sorry to hear that, {first_name}. Could you tell us what went wrong? "
        "Someone from {workspace} will look at your refund today.",
    },
)
FAQ_TOPICS = AgentSpec(
    name="faq_topics",
    title="FAQ topics",
    description="Tags each inbound message with the workspace's FAQ topics (one per line: “Topic: word, phrase, …”, "
    "matched as whole words), and with the topics you don't sell, written the same way; the Inbox counts "
    "them per week and the weekly summary lists what people asked for that you don't sell.",
    triggers=("message_in",),
    cancels=(),
    action="",
    defaults={
        "topics": "Pricing: price, pricing, cost, quote, how much, estimate, rate, charge, fee, discount, ballpark, "
        "expensive\n"
        "Availability: available, availability, slot, opening, are you free, any time, earliest, soonest, how soon, "
        "asap, fit us in, fit me in, come out, open on, still open\n"
        "Reschedule: reschedule, change the time, change the date, another day, move my appointment, postpone, push, "
        "bump, instead\n"
        "Payment: pay, payment, deposit, invoice, card, refund, money back, receipt, cash, venmo, zelle, charged, tip",
        # Asked about but not offered (e.g. "Piano moving: piano"): the weekly summary's gaps.
        "not_sold": "",
    },
)

QUALIFY = AgentSpec(
    name="qualify",
    title="Qualify",
    description="A new lead (their first message, or a form with an email) is asked the workspace's "
    "questions one at a time in the same thread (“trait: question” per line, up to 3); the answers are stored as "
    "traits on the person, then `lead_qualified` and the person is marked ready to book. Once per person.",
    triggers=("message_in", "form_submit"),
    cancels=(),
    action="lead_qualified",
    defaults={
        "questions": "service: What can we help you with?\n"
        "when: When would you like it done?\n"
        "zip: What is the ZIP code of the job?",
        "template": "Hi {first_name}, thanks for reaching out to {workspace}! A few quick questions so we can help.",
        "thanks": "Thanks {first_name}, that's all we need. We'll be in touch shortly.",
    },
)
BOOKING_ASSISTANT = AgentSpec(
    name="booking_assistant",
    title="Booking assistant",
    description="When a lead is qualified, offers 3 open times in the thread (from the weekly availability below, "
    "minus bookings taken, or from Calendly when a Calendly event type is set and Calendly is connected with a "
    "token); the person answers 1, 2 or 3 and the time is booked (`booking_offered`, `booking_taken`). "
    "The Follow-up reminder is planned from the booking.",
    triggers=("lead_qualified",),
    cancels=(),
    action="booking_taken",
    defaults={
        "availability": "Mon-Fri 09:00-17:00",
        "slot_minutes": 60,
        "lead_hours": 2,
        "calendly_event_type_url": "",
        "template": "Hi {first_name}, here are our next open times:\n{slots}\nReply 1, 2 or 3 to book.",
        "confirmation": "You're booked for {when}, {first_name}. See you then!",
    },
)

# The workspace's own model endpoint (agents/model_agent.py): not one of the rule-based AGENTS (its
# URL and secret have their own form in Settings → Agents), but planned and run like them.
MODEL_ENDPOINT = AgentSpec(
    name="model",
    title="Your model endpoint",
    description="An inbound message no agent above answers is sent to your own HTTPS endpoint; its reply is sent "
    "back over the person's channel, or the thread is handed to a person.",
    triggers=("message_in",),
    cancels=(),
    action="message_replied",
)

AGENTS: dict[str, AgentSpec] = {
    spec.name: spec
    for spec in (QUALIFY, BOOKING_ASSISTANT, FOLLOW_UP, REVIEW_ASK, ONBOARDING, REFUND_HANDLER, HANDOFF, FAQ_TOPICS)
}


def agent_config(spec: AgentSpec, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The agent's defaults with the workspace's overrides (only known keys)."""
    merged = dict(spec.defaults)
    merged.update({k: v for k, v in (overrides or {}).items() if k in spec.defaults})
    return merged


def template_render(template: str, values: dict[str, str]) -> str:
    """Fill `{name}` placeholders; unknown ones are left as written (never an error at send time)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template).strip()


# Labels of agent settings whose name does not read well on its own.
FIELD_LABELS = {
    "not_sold": "Topics you don't sell",
    "hours_before": "Hours before",
    "hours_after": "Hours after",
    "template": "Message",
    "review_url": "Review link",
    "calendly_event_type_url": "Calendly event type URI",
    "lead_hours": "Minimum notice (hours)",
    "slot_minutes": "Slot length (minutes)",
    "thanks": "Thanks after the last answer",
    "confirmation": "Confirmation",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name) or name.replace("_", " ").capitalize()


QUESTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_QUESTIONS = 3
# Trait names an answer cannot take: identifiers (they are claims, not traits) and Qualify's own mark.
RESERVED_TRAITS = frozenset({"email", "phone", "user_id", "userid", "anonymousid", "visitor_id", "ready_to_book"})


def questions_parse(text: str) -> list[tuple[str, str]]:
    """“trait: question” lines → [(trait, question)]; raises ValueError naming the bad line."""
    questions: list[tuple[str, str]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, question = line.partition(":")
        key = key.strip().lower().replace(" ", "_")
        if not colon or not QUESTION_KEY.match(key) or not question.strip():
            raise ValueError(
                f"questions, line {number}: write “trait: question”, the trait in lowercase letters, digits or _."
            )
        if key in RESERVED_TRAITS:
            raise ValueError(f"questions, line {number}: “{key}” is reserved; choose another trait name.")
        if any(key == k for k, _ in questions):
            raise ValueError(f"questions, line {number}: the trait “{key}” is used twice.")
        questions.append((key, question.strip()[:300]))
    if not questions:
        raise ValueError("questions: write at least one “trait: question” line.")
    if len(questions) > MAX_QUESTIONS:
        raise ValueError(f"questions: at most {MAX_QUESTIONS} questions.")
    return questions
