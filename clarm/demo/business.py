"""The demo business: about 500 people of a moving company over the last eight weeks, made from a
fixed seed (the same people, channels and journeys on every run, placed relative to the day it runs).

Pure: it returns each person's steps (what happened, when, through which door); `replay` sends them
through the real ingest and webhook code. The mix is a small business's: most people look at the site
once and leave; some come back, some leave an email or a phone number, message on WhatsApp or SMS,
call, book a visit in Calendly, pay a deposit in Stripe and the rest after the move; ads, a
newsletter, a lead app, the business's agents and tracked links each bring or follow some of them.
Every channel and all seven sources appear. A few ask for what a mover doesn't sell (pianos,
storage, moves abroad); a few messages stay unanswered.
"""

import datetime
import random
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

SEED = 16
DAYS = 56
SITE = "https://demo-movers.example"
BUSINESS_PHONE = "+13105550100"

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Iris",
    "Jamal",
    "Kira",
    "Leo",
    "Maya",
    "Noah",
    "Olivia",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aaron",
    "Bianca",
    "Caleb",
    "Daria",
    "Emil",
    "Fatima",
    "Gabe",
    "Hana",
    "Ivan",
    "Julia",
    "Kai",
    "Lena",
    "Marco",
    "Nina",
]
LAST = [
    "Alvarez",
    "Brooks",
    "Chen",
    "Dubois",
    "Evans",
    "Flores",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Murphy",
    "Nguyen",
    "Ortiz",
    "Patel",
    "Quinn",
    "Reyes",
    "Singh",
    "Torres",
    "Umar",
    "Vega",
    "Walsh",
    "Xu",
    "Young",
    "Zimmer",
]
AREA_CODES = ("213", "310", "323", "424", "626", "818")
# Public networks of the United States, Canada and Mexico (the offline geo data places them there);
# never stored, only hashed and looked up for the country.
IPS = (
    "12.0.0.1",
    "24.0.0.1",
    "73.0.0.1",
    "98.0.0.1",
    "71.0.0.1",
    "99.0.0.1",
    "108.0.0.1",
    "47.0.0.1",
    "68.0.0.1",
    "24.48.0.1",
    "174.0.0.1",
    "187.188.0.1",
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
USER_AGENTS = ((IPHONE, 40), (ANDROID, 22), (MAC, 20), (WINDOWS, 18))

LANDINGS = ("/", "/", "/", "/services", "/long-distance", "/blog/moving-checklist")
BROWSE = ("/services", "/pricing", "/pricing", "/reviews", "/about", "/packing", "/long-distance", "/quote")
ADS = (
    # (weight, utm_source, utm_medium, utm_campaign, landing, chance of leaving a contact)
    (12, "google", "cpc", "spring-move", "/quote-fast", 0.36),
    (9, "facebook", "paid_social", "local-movers", "/", 0.28),
    (4, "instagram", "paid_social", "moving-day-promo", "/packing", 0.2),
)
# How people first reach the business (weights out of 100).
FIRST_TOUCH = (
    ("web", 30),
    ("referral", 7),
    ("ad", 25),
    ("email", 6),
    ("whatsapp", 10),
    ("sms", 6),
    ("call", 6),
    ("calendly", 5),
    ("app", 3),
    ("stripe", 2),
)
QUESTIONS = (
    ("Hi! How much for a 2-bedroom move within LA?", 14),
    ("Are you available this Saturday morning?", 10),
    ("Do you move pianos? We have an upright.", 5),
    ("Can you store my furniture for a month between apartments?", 4),
    ("Do you do moves abroad, to Vancouver?", 2),
    ("Could we reschedule to another day next week?", 4),
    ("Do you take card for the deposit?", 4),
    ("Do you also pack the boxes?", 6),
    ("Is there an extra fee for stairs? 3rd floor, no elevator.", 5),
)
REPLIES = (
    "Thanks for reaching out! A 2-bedroom local move starts at $480 for a crew of 3. Want a free estimate?",
    "Hi! We have Saturday 8am open. Shall I book it?",
    "Happy to help: here are our prices and open slots: https://demo-movers.example/quote",
    "Sorry, we don't do that one, but we can recommend someone. Anything else we can help with?",
)
MEETINGS = ("Free in-home estimate", "Moving day")
# FAQ topics of the demo's FAQ topics agent, and what a mover doesn't sell.
TOPICS = (
    "Pricing: price, prices, cost, quote, how much, estimate\n"
    "Availability: available, availability, slot, saturday, this week, tomorrow\n"
    "Reschedule: reschedule, another day, move my appointment\n"
    "Payment: pay, deposit, invoice, card, refund\n"
    "Packing: pack, packing, boxes"
)
NOT_SOLD = (
    "Piano moving: piano, pianos\nStorage: storage, store my\nInternational moves: abroad, overseas, international"
)


@dataclass
class Step:
    """One thing that happened. `kind` says which door replays it: track (the track API, `payload`
    one event of its batch), stripe, calendly, sendgrid, twilio_message, twilio_call, generic (the
    signed webhook receivers), reply (a message the business sent), channel (an event recorded through
    `integrations.events.event_record`, as the link and Twilio receivers do)."""

    at: datetime.datetime
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Person:
    key: str  # "p042": every message id and provider id of theirs starts with it
    name: str
    email: str
    phone: str
    ip: str
    user_agent: str
    steps: list[Step] = field(default_factory=list)

    @property
    def visitor(self) -> str:
        return f"demo-{self.key}-device"

    @property
    def first_at(self) -> datetime.datetime:
        return min(step.at for step in self.steps)

    @property
    def needs_order(self) -> bool:
        """Whether anything besides the track API is in their story (then it is replayed in time order)."""
        return any(step.kind != "track" for step in self.steps)


class _Story:
    """Builds one person's steps; `ids` numbers their events."""

    def __init__(self, rng: random.Random, person: Person, now: datetime.datetime) -> None:
        self.rng, self.person, self.now, self.n = rng, person, now, 0
        self.session = 0

    def next_id(self) -> str:
        self.n += 1
        return f"demo-{self.person.key}-{self.n:02d}"

    def add(self, at: datetime.datetime, kind: str, payload: dict[str, Any]) -> datetime.datetime:
        if at < self.now - datetime.timedelta(minutes=1):  # what has not happened yet is left out
            self.person.steps.append(Step(at, kind, payload))
        return at

    def track(self, at: datetime.datetime, event: str, **fields: Any) -> datetime.datetime:
        return self.add(at, "track", {"message_id": self.next_id(), "event": event, **fields})

    def visit(
        self, at: datetime.datetime, pages: list[str], *, query: str = "", referrer: str = ""
    ) -> datetime.datetime:
        """One session of page views, a few seconds to minutes apart."""
        self.session += 1
        who = {"visitor_id": self.person.visitor, "session_id": f"demo-{self.person.key}-s{self.session}"}
        for index, path in enumerate(pages):
            url = f"{SITE}{path}{query if index == 0 else ''}"
            extra: dict[str, Any] = {"referrer": referrer} if index == 0 and referrer else {}
            props = {"time_on_page": self.rng.randint(8, 180)} if self.rng.random() < 0.5 else {}
            self.track(at, "page_view", url=url, user_agent=self.person.user_agent, properties=props, **who, **extra)
            at += datetime.timedelta(seconds=self.rng.randint(15, 150))
        return at

    def agent(self, at: datetime.datetime, action: str, agent: str, summary: str, **who: str) -> datetime.datetime:
        return self.track(at, action, source="agent", properties={"agent": agent, "summary": summary}, **who)

    def later(self, at: datetime.datetime, low_minutes: float, high_minutes: float) -> datetime.datetime:
        return at + datetime.timedelta(minutes=self.rng.uniform(low_minutes, high_minutes))


def _weighted(rng: random.Random, options: Any) -> Any:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _first_moment(rng: random.Random, now: datetime.datetime, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    """A moment in the last eight weeks: more in recent weeks (a growing business), fewer on Sundays,
    mostly at lunch and in the evening, in the business's zone."""
    while True:
        days_ago = int(DAYS * (1 - rng.random() ** 0.8))
        day = now.astimezone(tz).date() - datetime.timedelta(days=min(days_ago, DAYS - 1))
        if day.weekday() == 6 and rng.random() < 0.4:
            continue
        hour = _weighted(
            rng,
            [
                (h, w)
                for h, w in enumerate((1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 9, 12, 11, 8, 7, 7, 8, 10, 12, 11, 8, 5, 2))
            ],
        )
        at = datetime.datetime.combine(day, datetime.time(hour, rng.randint(0, 59), rng.randint(0, 59)), tzinfo=tz)
        if at < now - datetime.timedelta(minutes=5):
            return at.astimezone(datetime.UTC)


def _person(rng: random.Random, index: int) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return Person(
        key=f"p{index:03d}",
        name=f"{first} {last}",
        email=f"{first}.{last}.{index}@example.com".lower(),
        phone=f"+1{AREA_CODES[index % len(AREA_CODES)]}55501{index // len(AREA_CODES):02d}",
        ip=rng.choice(IPS),
        user_agent=_weighted(rng, USER_AGENTS),
    )


def _stripe(p: Person, what: str, amount: int, description: str, *, kind: str = "", visitor: bool = True) -> dict:
    """A Stripe event of the person (payment_intent.succeeded unless `kind` says otherwise)."""
    return {
        "type": kind or "payment_intent.succeeded",
        "id": f"evt_demo_{p.key}_{what}",
        "pi": f"{'ch' if kind else 'pi'}_demo_{p.key}_{what}",
        "amount": amount,
        "email": p.email,
        "visitor_id": p.visitor if visitor else "",
        "customer": f"cus_demo_{p.key}",
        "description": description,
    }


def _lead(story: _Story, at: datetime.datetime, *, phone: bool, form_url: str = "/quote") -> datetime.datetime:
    """The quote form, then what the business's agents and emails do about it."""
    p, rng = story.person, story.rng
    fields: dict[str, Any] = {
        "email": p.email,
        "form": "quote",
        "move_size": rng.choice(("studio", "1-bedroom", "2-bedroom", "3-bedroom")),
    }
    if phone:
        fields["phone"] = p.phone
    at = story.track(
        at,
        "form_submit",
        visitor_id=p.visitor,
        url=f"{SITE}{form_url}",
        user_agent=p.user_agent,
        traits={"name": p.name},
        properties=fields,
    )
    if rng.random() < 0.7:
        story.agent(
            story.later(at, 1, 4), "lead_qualified", "qualify", "Asked 3 questions. Ready for a quote.", email=p.email
        )
    if rng.random() < 0.8:
        sent = story.later(at, 3, 20)
        story.add(sent, "sendgrid", {"email": p.email, "event": "delivered", "id": f"{p.key}-q-d"})
        if rng.random() < 0.7:
            opened = story.add(
                story.later(sent, 10, 900), "sendgrid", {"email": p.email, "event": "open", "id": f"{p.key}-q-o"}
            )
            if rng.random() < 0.4:
                story.add(
                    story.later(opened, 0.5, 5),
                    "sendgrid",
                    {"email": p.email, "event": "click", "id": f"{p.key}-q-c", "url": f"{SITE}/book"},
                )
    return at


def _message(story: _Story, at: datetime.datetime, *, channel: str, answered: float = 0.85) -> datetime.datetime:
    """A message in on WhatsApp or SMS and, usually, the business's answer."""
    p, rng = story.person, story.rng
    body = _weighted(rng, QUESTIONS)
    sid = "SM" + story.next_id()
    at = story.add(
        at, "twilio_message", {"channel": channel, "phone": p.phone, "body": body, "name": p.name, "sid": sid}
    )
    if rng.random() < answered:
        not_sold = any(word in body.lower() for word in ("piano", "store my", "abroad"))
        reply = REPLIES[3] if not_sold else rng.choice(REPLIES[:3])
        story.add(story.later(at, 4, 95), "reply", {"channel": channel, "phone": p.phone, "body": reply})
    return at


def _booking(story: _Story, at: datetime.datetime, *, pays: float = 0.8, phone: bool = False) -> None:
    """A Calendly booking (with the phone for text reminders when the business has it: that links the
    booking's email to the person who called or messaged), its deposit, reminders, the move, the
    balance, a review request."""
    p, rng = story.person, story.rng
    move = at + datetime.timedelta(days=rng.randint(2, 16), hours=rng.randint(-3, 3))
    move = move.replace(minute=0, second=0)
    uri = f"https://api.calendly.com/scheduled_events/demo-{p.key}"
    story.add(
        at,
        "calendly",
        {
            "event": "invitee.created",
            "email": p.email,
            "name": p.name,
            "uri": uri,
            "start": move,
            "phone": p.phone if phone else "",
            "meeting": rng.choice(MEETINGS),
        },
    )
    if rng.random() < 0.08:
        story.add(
            story.later(at, 60, 60 * 48),
            "calendly",
            {
                "event": "invitee.canceled",
                "email": p.email,
                "name": p.name,
                "uri": uri,
                "start": move,
                "meeting": MEETINGS[1],
            },
        )
        return
    if rng.random() < pays:
        deposit = rng.choice((5000, 7500, 10000, 15000))
        paid_at = story.add(story.later(at, 1, 45), "stripe", _stripe(p, "dep", deposit, "Moving deposit"))
        if rng.random() < 0.03:
            refund = _stripe(p, "ref", deposit, "Deposit refunded", kind="charge.refunded")
            story.add(story.later(paid_at, 60 * 24, 60 * 72), "stripe", refund)
            return
    reminder = move - datetime.timedelta(hours=24)
    story.agent(reminder, "reminder_sent", "follow-up", "Reminder SMS with a tracked link, 24h before.", email=p.email)
    if rng.random() < 0.5:
        link = {"channel": "sms", "label": "Reminder SMS", "url": f"{SITE}/moving-day"}
        clicked = {"message_id": story.next_id(), "event": "link_clicked", "source": "pixel", "phone": p.phone}
        story.add(story.later(reminder, 3, 120), "channel", {**clicked, "properties": link})
    if rng.random() < 0.9:
        balance = rng.randint(30, 220) * 1000
        done = story.add(
            move + datetime.timedelta(hours=rng.randint(3, 8)), "stripe", _stripe(p, "bal", balance, "Move balance")
        )
        story.agent(
            story.later(done, 60 * 20, 60 * 30),
            "review_requested",
            "review",
            "One-line SMS asking for a Google review.",
            email=p.email,
        )


def _journey(story: _Story, start: datetime.datetime, via: str) -> None:
    p, rng = story.person, story.rng
    if via in ("web", "referral", "ad"):
        query, referrer, landing, contact = "", "https://www.google.com/", rng.choice(LANDINGS), 0.28
        if via == "referral":
            referrer = rng.choice(("https://www.yelp.com/biz/demo-movers-los-angeles", "https://nextdoor.com/"))
            contact = 0.4
        if via == "ad":
            _, source, medium, campaign, landing, contact = _weighted(rng, [(ad, ad[0]) for ad in ADS])
            query, referrer = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}", ""
        pages = [landing, *rng.sample(BROWSE, rng.randint(0, 3))]
        at = story.visit(start, pages, query=query, referrer=referrer)
        if rng.random() < 0.15:
            story.track(
                story.later(at, 0.1, 1),
                "click",
                visitor_id=p.visitor,
                url=f"{SITE}{pages[-1]}",
                user_agent=p.user_agent,
                properties={"text": "Get a quote", "href": f"{SITE}/quote"},
            )
        if rng.random() < 0.35:  # comes back another day: the same device, a second visit
            at = story.visit(story.later(at, 60 * 20, 60 * 24 * 4), rng.sample(BROWSE, rng.randint(1, 3)))
            contact += 0.12
        if rng.random() >= contact:
            return
        with_phone = rng.random() < 0.6
        at = _lead(story, story.later(at, 0.5, 3), phone=with_phone)
        if with_phone and rng.random() < 0.45:
            at = _message(story, story.later(at, 8, 60 * 20), channel=rng.choice(("whatsapp", "whatsapp", "sms")))
            if rng.random() < 0.5:
                story.agent(
                    story.later(at, 1, 30),
                    "booking_offered",
                    "booking",
                    "Offered 3 slots in the thread.",
                    phone=p.phone,
                )
        if rng.random() < 0.42:
            _booking(story, story.later(at, 60 * 2, 60 * 24 * 4))
    elif via in ("whatsapp", "sms"):
        at = _message(story, start, channel=via)
        if rng.random() < 0.35:
            _booking(story, story.later(at, 60, 60 * 24 * 3), phone=True)
    elif via == "call":
        status = "completed" if rng.random() < 0.8 else "no-answer"
        at = story.add(
            start,
            "twilio_call",
            {"phone": p.phone, "status": status, "sid": f"CAdemo{p.key}", "duration": rng.randint(40, 600)},
        )
        if status == "completed" and rng.random() < 0.4:
            _booking(story, story.later(at, 10, 60 * 24), phone=True)
    elif via == "calendly":
        _booking(story, start, pays=0.7)
    elif via == "app":
        story.add(
            start,
            "generic",
            {
                "id": f"{p.key}-lead",
                "event": "lead_received",
                "email": p.email,
                "phone": p.phone,
                "name": p.name,
                "app": rng.choice(("Thumbtack", "Yelp")),
            },
        )
        if rng.random() < 0.3:
            _booking(story, story.later(start, 60, 60 * 48))
    elif via == "email":  # a newsletter subscriber from before Clarm clicks the monthly email
        story.add(start, "sendgrid", {"email": p.email, "event": "open", "id": f"{p.key}-n-o"})
        story.add(
            story.later(start, 0.2, 3),
            "sendgrid",
            {
                "email": p.email,
                "event": "click",
                "id": f"{p.key}-n-c",
                "url": f"{SITE}/?utm_source=newsletter&utm_medium=email&utm_campaign=monthly-tips",
            },
        )
        if rng.random() < 0.2:
            _booking(story, story.later(start, 30, 60 * 24 * 2))
    elif via == "stripe":  # a customer from before Clarm pays an invoice
        story.add(start, "stripe", _stripe(p, "inv", rng.randint(20, 90) * 1000, "Invoice", visitor=False))


def demo_people(*, now: datetime.datetime, tz: zoneinfo.ZoneInfo, count: int = 500) -> list[Person]:
    """`count` people (with a few bots' visits among them), the same ones for the same seed."""
    people = []
    for index in range(count):
        # One generator per person: how many draws a person's moment takes depends on the weekday it
        # runs (Sundays are redrawn), and that must not change who the next people are.
        rng = random.Random(f"{SEED}-{index}")
        person = _person(rng, index)
        story = _Story(rng, person, now)
        # The first people come through each door once, so even a small demo has every channel.
        via = FIRST_TOUCH[index][0] if index < len(FIRST_TOUCH) else _weighted(rng, FIRST_TOUCH)
        _journey(story, _first_moment(rng, now, tz), via)
        if person.steps:
            people.append(person)
    for index in range(max(1, count // 25)):  # crawlers: counted, never stitched, never a person
        rng = random.Random(f"{SEED}-bot-{index}")
        bot = Person(key=f"bot{index:02d}", name="", email="", phone="", ip=rng.choice(IPS), user_agent=BOT)
        _Story(rng, bot, now).visit(_first_moment(rng, now, tz), rng.sample(BROWSE, 3))
        people.append(bot)
    return people
