import datetime

import pytest

from identity.timeline import event_text, humanize, money, relative_time


@pytest.mark.parametrize(
    ("event", "source", "props", "ctx", "title"),
    [
        ("page_view", "web", {}, {"url": "https://acme.test/pricing?x=1"}, "Views /pricing"),
        ("form_submit", "web", {"form": "quote", "email": "a@b.co"}, {}, "Submits quote form: email captured"),
        (
            "form_submit",
            "web",
            {"form": "quote", "email": "a@b.co", "phone": "+1415"},
            {},
            "Submits quote form: email and phone captured",
        ),
        ("identify", "web", {"user_id": "u1"}, {}, "Signs in"),
        ("identify", "web", {"email": "a@b.co"}, {}, "Identifies: email captured"),
        ("message_in", "channel", {"channel": "whatsapp"}, {}, "WhatsApp message in"),
        ("message_out", "channel", {"channel": "sms"}, {}, "SMS message out"),
        (
            "payment_succeeded",
            "webhook",
            {"amount": 50, "currency": "usd", "provider": "stripe"},
            {},
            "Stripe payment received: $50.00",
        ),
        (
            "charge.succeeded",
            "webhook",
            {"amount_minor": 5000, "currency": "usd"},
            {},
            "Stripe payment received: $50.00",
        ),
        ("purchase", "web", {"amount": 1250, "currency": "EUR"}, {}, "Purchase: €1,250.00"),
        ("lead_qualified", "agent", {}, {}, "Agent qualified the lead"),
        ("custom_upsell_thing", "agent", {}, {}, "Agent: custom upsell thing"),
        ("quoteRequestedByPhone", "web", {}, {}, "Quote requested by phone"),
        ("link_clicked", "pixel", {"channel": "sms"}, {}, "Tracked SMS link clicked"),
        ("email_opened", "email", {"subject": "Your quote"}, {}, "Opens email: Your quote"),
        ("booking_created", "webhook", {"start_time": "Fri 10:00"}, {}, "Booking made"),
    ],
)
def test_titles(event, source, props, ctx, title):
    assert event_text(event=event, source=source, properties=props, context=ctx).title == title


def test_page_view_description_names_the_search_and_utm():
    text = event_text(
        event="page_view",
        source="web",
        properties={"time_on_page": 138},
        context={
            "url": "https://acme.test/",
            "referrer": "https://www.google.com/",
            "attribution": {"utm_source": "google", "utm_medium": "cpc"},
        },
    )
    assert text.description == "From a Google search · UTM google / cpc · 2m18s on page"


def test_given_summary_becomes_the_description():
    text = event_text(event="lead_qualified", source="agent", properties={"summary": "Asked 3 questions"}, context={})
    assert text.description == "Asked 3 questions"


def test_junk_properties_never_break_titles():
    assert event_text(event="", source="web", properties=["x"], context="y").title == "Event"
    assert event_text(event="purchase", source="web", properties={"amount": "lots"}, context={}).title == "Purchase"


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "T+0"),
        (-5, "T+0"),
        (12, "T+12s"),
        (60, "T+1m"),
        (540, "T+9m"),
        (7500, "T+2h 5m"),
        (3600, "T+1h"),
        (86400 * 2, "T+2d"),
        (86400 * 11 + 3600 * 15, "T+11d 15h"),
    ],
)
def test_relative_time(seconds, label):
    assert relative_time(datetime.timedelta(seconds=seconds)) == label


def test_money_and_humanize():
    assert money(5000, "jpy") == "¥5,000"
    assert money(12.5, "chf") == "12.50 CHF"
    assert humanize("order.refunded") == "Order refunded"
