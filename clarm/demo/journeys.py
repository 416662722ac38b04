"""The two journeys of the demo workspace, replayed through the real ingest (clarm.demo.replay).

The DESIGN worked example (7 events, starting one day ago) and the 12-day, 15-event multi-channel
journey of the product page. Web and agent events go through `POST /api/track` with the write key;
the Stripe deposits through the signed Stripe webhook receiver; the WhatsApp/SMS messages and the
tracked-SMS-link click through `integrations.events.event_record`, the door the Twilio and link
receivers use after verifying. Every event has a fixed message id (and every Stripe event a fixed
id), so a second run is all duplicates and changes nothing.
"""

import datetime

from django.utils import timezone

from clarm.demo.business import SITE, Step

UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)


def _agent_step(at: datetime.datetime, *, message_id: str, event: str, agent: str, summary: str, **who: str) -> Step:
    """What one of the business's agents did, tracked through the API against the customer's email or phone."""
    return Step(
        at,
        "track",
        {
            "message_id": message_id,
            "event": event,
            "source": "agent",
            **who,
            "properties": {"agent": agent, "summary": summary},
        },
    )


def _worked_example(now: datetime.datetime) -> list[Step]:
    """DESIGN "Worked example": T+0 is one day ago."""
    t0 = now - datetime.timedelta(days=1)
    s = datetime.timedelta
    who = {"visitor_id": "demo-dana-device", "session_id": "demo-dana-s1", "user_agent": UA}
    email, phone = "dana.reyes@example.com", "+14155550142"
    return [
        Step(
            t0,
            "track",
            {
                **who,
                "message_id": "demo-we-1",
                "event": "page_view",
                "url": f"{SITE}/",
                "referrer": "https://www.google.com/",
                "properties": {"title": "Demo Movers: local moving in San Francisco"},
            },
        ),
        Step(
            t0 + s(seconds=12),
            "track",
            {
                **who,
                "message_id": "demo-we-2",
                "event": "click",
                "url": f"{SITE}/",
                "properties": {"text": "Our services", "href": f"{SITE}/services"},
            },
        ),
        Step(
            t0 + s(minutes=1),
            "track",
            {
                **who,
                "message_id": "demo-we-3",
                "event": "form_submit",
                "url": f"{SITE}/quote",
                "traits": {"name": "Dana Reyes"},
                "properties": {"form": "quote", "email": email, "phone": phone, "move_size": "2-bedroom"},
            },
        ),
        Step(
            t0 + s(minutes=9),
            "channel",
            {
                "message_id": "demo-we-4",
                "event": "whatsapp_received",
                "phone": phone,
                "properties": {
                    "channel": "whatsapp",
                    "direction": "inbound",
                    "body": "Hi! I just sent the quote form. Is Saturday free?",
                    "title": "WhatsApp message received",
                },
            },
        ),
        _agent_step(
            t0 + s(minutes=11),
            message_id="demo-we-5",
            event="lead_qualified",
            agent="qualify",
            summary="Asked 3 questions in WhatsApp. Marked ready-to-book.",
            phone=phone,
        ),
        Step(
            t0 + s(minutes=15),
            "stripe",
            {
                "id": "evt_demo_we_deposit",
                "pi": "pi_demo_we_deposit",
                "amount": 5000,
                "email": email,
                "visitor_id": "demo-dana-device",
                "customer": "cus_demo_dana",
            },
        ),
        _agent_step(
            t0 + s(hours=23, minutes=45),
            message_id="demo-we-7",
            event="reminder_sent",
            agent="follow-up",
            summary="Reminder sent 24h before the move.",
            email=email,
        ),
    ]


def _twelve_days(now: datetime.datetime, tz: datetime.tzinfo) -> list[Step]:
    """The product page's "A full customer in 15 events": Day 1 is eleven days before yesterday."""
    day1 = (timezone.localtime(now, tz) - datetime.timedelta(days=12)).date()

    def at(day: int, hour: int, minute: int, second: int = 0) -> datetime.datetime:
        d = day1 + datetime.timedelta(days=day - 1)
        return datetime.datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=tz)

    device = {"visitor_id": "demo-marcus-device", "user_agent": UA}
    email, phone = "marcus.hill@example.com", "+18055550187"
    landing = f"{SITE}/?utm_source=google&utm_medium=organic&utm_term=best+mover+ventura+ca"
    return [
        Step(
            at(1, 23, 42),
            "track",
            {
                **device,
                "session_id": "demo-marcus-s1",
                "message_id": "demo-12d-01",
                "event": "page_view",
                "url": landing,
                "referrer": "https://www.google.com/",
            },
        ),
        Step(
            at(1, 23, 43),
            "track",
            {
                **device,
                "session_id": "demo-marcus-s1",
                "message_id": "demo-12d-02",
                "event": "page_view",
                "url": f"{SITE}/pricing/",
                "properties": {"time_on_page": 138, "scroll_depth": 100, "hovered": "$1k tier"},
            },
        ),
        Step(
            at(2, 8, 14),
            "track",
            {
                **device,
                "session_id": "demo-marcus-s2",
                "message_id": "demo-12d-03",
                "event": "page_view",
                "url": f"{SITE}/",
            },
        ),
        Step(
            at(3, 14, 30),
            "track",
            {
                **device,
                "session_id": "demo-marcus-s3",
                "message_id": "demo-12d-04",
                "event": "form_submit",
                "url": f"{SITE}/quote",
                "traits": {"name": "Marcus Hill", "company": "Hill Family Moving"},
                "properties": {"form": "quote", "email": email, "phone": phone, "move_size": "3-bedroom"},
            },
        ),
        _agent_step(
            at(3, 14, 31),
            message_id="demo-12d-05",
            event="lead_qualified",
            agent="qualify",
            summary="Asked 3 questions in the form-acknowledgement email. Marked ready-to-book.",
            email=email,
        ),
        _agent_step(
            at(3, 18, 0),
            message_id="demo-12d-06",
            event="reminder_sent",
            agent="follow-up",
            summary="Reminder text with a tracked short-link.",
            email=email,
        ),
        Step(
            at(3, 18, 18),
            "channel",
            {
                "message_id": "demo-12d-07",
                "event": "link_clicked",
                "source": "pixel",
                "phone": phone,
                "properties": {"channel": "sms", "label": "Reminder SMS", "url": f"{SITE}/book"},
            },
        ),
        Step(
            at(4, 9, 12),
            "channel",
            {
                "message_id": "demo-12d-08",
                "event": "whatsapp_received",
                "phone": phone,
                "properties": {
                    "channel": "whatsapp",
                    "direction": "inbound",
                    "body": "Got your quote. Can you do the 14th?",
                    "title": "WhatsApp message received",
                },
            },
        ),
        _agent_step(
            at(4, 9, 14),
            message_id="demo-12d-09",
            event="booking_offered",
            agent="booking",
            summary="Offered 3 slots inside the WhatsApp thread.",
            phone=phone,
        ),
        Step(
            at(4, 9, 19),
            "stripe",
            {
                "id": "evt_demo_12d_deposit",
                "pi": "pi_demo_12d_deposit",
                "amount": 5000,
                "email": email,
                "visitor_id": "demo-marcus-device",
                "customer": "cus_demo_marcus",
            },
        ),
        _agent_step(
            at(4, 9, 19, 40),
            message_id="demo-12d-11",
            event="onboarding_started",
            agent="onboarding",
            summary="Calendar invite sent. SMS confirmation queued. Customer file initialised.",
            email=email,
        ),
        Step(
            at(4, 9, 20, 5),
            "channel",
            {
                "message_id": "demo-12d-12",
                "event": "message_sent",
                "phone": phone,
                "properties": {
                    "channel": "sms",
                    "direction": "outbound",
                    "body": "You're booked for the 14th, 8am. Reply STOP to opt out.",
                },
            },
        ),
        _agent_step(
            at(6, 18, 30),
            message_id="demo-12d-13",
            event="review_requested",
            agent="review",
            summary="One-line SMS asking for a Google review.",
            email=email,
        ),
        Step(
            at(12, 15, 14),
            "track",
            {
                "visitor_id": "demo-marcus-device",
                "user_agent": DESKTOP_UA,
                "session_id": "demo-marcus-s4",
                "message_id": "demo-12d-14",
                "event": "page_view",
                "url": f"{SITE}/pricing/",
                "properties": {"hovered": "Multi-channel tier"},
            },
        ),
        _agent_step(
            now - datetime.timedelta(minutes=50),
            message_id="demo-12d-15",
            event="summary_sent",
            agent="summary",
            summary="Friday 5pm summary: every signal from the week.",
            email=email,
        ),
    ]


def story_journeys(*, now: datetime.datetime, tz: datetime.tzinfo) -> list[Step]:
    """Both journeys' steps: the worked example first, so Dana is customer #1 as in DESIGN."""
    return _worked_example(now) + _twelve_days(now, tz)
