"""Plain language and craft of issue 16: channels in the owner's words, a favicon, rung badges at
WCAG AA contrast."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from identity.channels import channel_label, channel_of, channels_from_text, channels_text
from tests.ui.conftest import make_customer


@pytest.mark.parametrize(
    ("source", "event", "properties", "label"),
    [
        ("web", "page_view", {}, "Web"),
        ("ad", "page_view", {}, "Ad"),
        ("email", "email_opened", {}, "Email"),
        ("channel", "message_in", {"channel": "whatsapp"}, "WhatsApp"),
        ("channel", "message_in", {"channel": "sms"}, "SMS"),
        ("channel", "call_completed", {"channel": "voice"}, "Call"),
        ("channel", "message_in", {"channel": "voice"}, "Call"),
        ("webhook", "payment_received", {"provider": "stripe"}, "Stripe"),
        ("webhook", "booking_created", {}, "Calendly"),
        ("webhook", "delivered", {"provider": "sendgrid"}, "Email"),
        ("webhook", "quote_requested", {}, "Other app"),
        ("agent", "lead_qualified", {}, "Agent"),
        ("pixel", "link_clicked", {"channel": "sms"}, "SMS"),
        ("pixel", "pixel_open", {}, "Email"),
    ],
)
def test_channel_in_words(source, event, properties, label):
    assert channel_label(channel_of(source=source, event=event, properties=properties)) == label


def test_channels_round_trip_in_a_fixed_order():
    text = channels_text({"stripe", "web", "sms"})
    assert text == ",web,sms,stripe,"
    assert channels_from_text(text) == ["web", "sms", "stripe"]
    assert channels_text(set()) == ""


@pytest.mark.django_db
def test_favicon_is_served():
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # type: ignore[attr-defined]  # an ICO file


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_rung_badges_meet_wcag_aa_contrast():
    css = (Path(settings.BASE_DIR) / "static/css/clarm.css").read_text()
    badges = dict(re.findall(r"\.rung-(\d)\{background:(#[0-9a-fA-F]{6});color:#fff\}", css))
    assert sorted(badges) == ["0", "1", "2", "3", "4"]
    for rung, background in badges.items():
        ratio = (1.0 + 0.05) / (_luminance(background) + 0.05)
        assert ratio >= 4.5, f"rung {rung} badge {background}: {ratio:.2f}:1"


@pytest.mark.django_db
def test_customers_filter_names_sources_in_words(tenant):
    client = Client()
    client.force_login(tenant.owner)
    make_customer(tenant.workspace, name="Someone")
    body = client.get(f"/w/{tenant.workspace.slug}/customers/").content.decode()
    assert '<option value="webhook" >Payments, bookings and apps</option>' in body
    assert '<option value="channel" >SMS, WhatsApp or call</option>' in body
    assert "Ad click" not in body
    assert '<option value="whatsapp" >WhatsApp</option>' in body  # the channel filter
