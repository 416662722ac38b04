"""What the summary says: two weeks of a florist in Tokyo written through the real pipeline, every
figure of the wins, patterns and gaps checked against the week before, the edges of the week in the
workspace's zone, the quiet week, the email's three parts, and tenant isolation."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from agents.services import agent_setting_save
from agents.summary.periods import period_for_week, workspace_zone
from agents.summary.render import summary_pdf_document
from agents.summary.selectors import weekly_summary_get
from agents.tasks import weekly_summaries_due
from identity.rollups.processor import rollups_rebuild
from tests.agents.conftest import pdf_text, utc
from tests.agents.summary_helpers import (
    BOT_UA,
    SITE,
    SPRING,
    booked,
    form,
    page,
    paid,
    rollups,
    whatsapp_in,
    whatsapp_out,
)
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
# 2025-W11 is sent on Fri 14 Mar 2025 at 17:00 JST and covers Fri 7 to Thu 13 Mar (JST); the week
# before is Fri 28 Feb to Thu 6 Mar.
SEND = utc(2025, 3, 14, 8, 0)


def jst(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime.datetime:
    return datetime.datetime(2025, month, day, hour, minute, tzinfo=TOKYO)


def summary_of(workspace, key="2025-W11", now=SEND):
    return weekly_summary_get(
        workspace=workspace, period=period_for_week(key, workspace_zone(workspace.timezone)), now=now
    )


@pytest.fixture
def florist(tokyo):
    """The week before: Yui books and pays $50; Zed asks on WhatsApp about storage and is answered.
    This week: Aiko comes from the spring ad, books, pays $80 (Yui gets $10 back); Ben comes from
    the web, leaves his phone and asks on WhatsApp about pianos, unanswered; Cy looks at /pricing
    and leaves; Dee comes from the spring ad and leaves her email. A bot's visit and a visit at the
    first moment of the next week do not count."""
    ws = tokyo.workspace
    agent_setting_save(
        workspace=ws,
        agent="faq_topics",
        enabled=True,
        config={"not_sold": "Piano moving: piano, pianos\nStorage: storage"},
    )
    # The week before.
    page(ws, "yui", jst(3, 12, 30), f"{SITE}/")
    form(ws, "yui", jst(3, 12, 40), email="yui@example.jp", name="Yui Mori")
    booked(ws, "yui@example.jp", jst(3, 12, 50))
    paid(ws, "yui@example.jp", jst(3, 13, 5), 5000)
    whatsapp_in(ws, "+819011112222", jst(4, 9, 0), "Do you have storage for a sofa?")
    whatsapp_out(ws, "+819011112222", jst(4, 9, 30), "Sorry, we only deliver flowers.")
    # This week.
    page(ws, "aiko", jst(10, 12, 10), SPRING)
    form(ws, "aiko", jst(10, 12, 20), email="aiko@example.jp", name="Aiko Tanaka")
    booked(ws, "aiko@example.jp", jst(11, 12, 40))
    paid(ws, "aiko@example.jp", jst(11, 13, 0), 8000)
    paid(ws, "yui@example.jp", jst(11, 13, 30), 1000, refund=True)
    page(ws, "ben", jst(11, 19, 5), f"{SITE}/")
    form(ws, "ben", jst(11, 19, 10), email="ben@example.jp", name="Ben Ito", phone="+819033334444")
    whatsapp_in(ws, "+819033334444", jst(12, 19, 30), "Do you move pianos too?")
    page(ws, "cy", jst(12, 19, 40), f"{SITE}/pricing?ref=nav")
    page(ws, "dee", jst(13, 20, 0), SPRING)
    form(ws, "dee", jst(13, 20, 5), email="dee@example.jp", name="Dee Kato")
    page(ws, "crawler", jst(12, 3, 0), f"{SITE}/wp-login.php", user_agent=BOT_UA)
    page(ws, "late", jst(14, 0, 0), f"{SITE}/next-week")  # Friday 00:00 JST: next week's
    rollups(ws)
    return tokyo


def test_the_wins_against_the_week_before(florist):
    summary = summary_of(florist.workspace)
    assert summary.period.start == utc(2025, 3, 6, 15, 0)  # Fri 7 Mar 00:00 JST
    assert summary.period.end == utc(2025, 3, 13, 15, 0)  # Fri 14 Mar 00:00 JST
    assert (summary.new_customers.current, summary.new_customers.previous) == (1, 1)
    assert summary.new_customers.label == "±0%"
    assert summary.currency == "USD"
    assert (summary.revenue.current, summary.revenue.previous) == (7000, 5000)  # $80 less a $10 refund; $50
    assert summary.revenue.label == "+40%"
    assert (summary.bookings.current, summary.bookings.previous) == (1, 1)
    assert (summary.new_people.current, summary.new_people.previous) == (4, 2)  # not the bot, not Friday's
    assert summary.new_people.label == "+100%"
    best = summary.best_campaign
    assert best is not None
    assert (best.name, best.customers.current, best.revenue_minor, best.new_people.current) == ("spring", 1, 8000, 2)
    assert [(a.customer_number, a.name) for a in summary.new_accounts] == [(2, "Aiko Tanaka")]
    assert not summary.is_quiet


def test_the_patterns(florist):
    summary = summary_of(florist.workspace)
    channels = [
        (row.label, row.new_people.current, row.new_people.previous, row.customers.current, row.revenue_minor)
        for row in summary.channels
    ]
    assert channels == [("Ad", 2, 0, 1, 8000), ("Web", 2, 1, 0, 0)]
    web = summary.channels[1]
    assert (web.customers.current, web.customers.previous, web.customers.label) == (0, 1, "−100%")
    # What people did themselves, by the hour in Tokyo: Ben's and Cy's evening, Aiko's lunch.
    assert [(hour.label, hour.count) for hour in summary.busiest] == [
        ("19:00–20:00", 4),
        ("12:00–13:00", 3),
        ("20:00–21:00", 2),
    ]
    assert summary.busiest_before is not None and summary.busiest_before.label == "12:00–13:00"
    assert summary.hours[13].count == 1  # Aiko's payment; the refund is Stripe's doing, not hers
    assert [(row.path, row.views.current, row.views.previous) for row in summary.top_pages] == [
        ("/", 3, 1),
        ("/pricing", 1, 0),
    ]


def test_the_gaps(florist):
    summary = summary_of(florist.workspace)
    stuck = {group.label: (group.people.current, group.people.previous, group.step_label) for group in summary.stuck}
    assert stuck == {
        "Reached by phone, not booked or paid": (1, 1, "WhatsApp message in"),
        "Gave an email, not booked or paid": (1, 0, "Submits quote form"),
        "Left without leaving a contact": (1, 0, "/pricing"),
    }
    assert (summary.unanswered.current, summary.unanswered.previous) == (1, 0)
    assert [(w.name, w.channel) for w in summary.waiting] == [("Ben Ito", "WhatsApp")]
    assert summary.unsold_watched
    assert [(t.name, t.asked.current, t.asked.previous) for t in summary.unsold] == [
        ("Piano moving", 1, 0),
        ("Storage", 0, 1),
    ]


def test_an_answer_after_the_week_still_counts_the_week_as_unanswered(florist):
    ws = florist.workspace
    whatsapp_out(ws, "+819033334444", jst(14, 9, 0), "Yes, we move pianos.")  # Friday morning
    summary = summary_of(ws)
    assert summary.unanswered.current == 1  # nobody answered before the week ended
    assert summary.waiting == []  # but by the time of the email, Ben has his answer


def test_reads_rollups_and_facts_not_events(florist, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        summary_of(florist.workspace)


def test_a_week_with_nothing_is_a_quiet_week(tokyo, tmp_path):
    page(tokyo.workspace, "old", jst(1, 10, 0, month=1), f"{SITE}/")  # January: quiet since
    rollups(tokyo.workspace)
    summary = summary_of(tokyo.workspace)
    assert summary.is_quiet
    assert summary.new_people.label == "±0"
    assert summary.busiest == [] and summary.top_pages == [] and summary.best_campaign is None
    assert not summary.unsold_watched

    with time_machine.travel(SEND, tick=False):
        weekly_summaries_due()
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert "A quiet week" in message.body
    assert "A quiet week" in str(message.alternatives[0][0])
    assert "list the topics you don't sell in the FAQ topics agent" in message.body
    document = summary_pdf_document(summary, workspace_slug=tokyo.workspace.slug)
    assert "A quiet week" in pdf_text(message.attachments[0][1], tmp_path, document=document)


def test_the_email_has_html_text_and_a_one_page_pdf(florist, tmp_path):
    workspace = florist.workspace
    with time_machine.travel(SEND, tick=False):
        weekly_summaries_due()
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["owner@sakura.example", "shop@sakura.example"]
    assert message.subject == "[Clarm] Sakura Florist: your week to Thu 13 Mar"

    body = message.body
    assert "Fri 7 – Thu 13 Mar 2025 (Asia/Tokyo), against the seven days before" in body
    assert "New customers: 1 (±0% vs 1 the week before)" in body
    assert "Revenue: $70.00 (+40% vs $50.00 the week before)" in body
    assert "Best campaign: spring, 1 new customer, $80.00 (0 the week before)" in body
    assert "#2 Aiko Tanaka" in body
    assert "Ad: 2 new (new), 1 customer (new), $80.00" in body
    assert "Busiest hours: 19:00–20:00 (4), 12:00–13:00 (3), 20:00–21:00 (2); the week before 12:00–13:00" in body
    assert "Gave an email, not booked or paid: 1 (new vs 0), last: Submits quote form" in body
    assert "Waiting for an answer: 1 thread (new vs 0)" in body
    assert "Ben Ito (WhatsApp, Wed 19:30)" in body
    assert "Asked for, not sold: Piano moving 1 (new), Storage 0 (−100%)" in body

    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    for text in ("Sakura Florist", "#2 Aiko Tanaka", "spring", "Ben Ito", "Piano moving", "$70.00"):
        assert text in str(html)

    ((filename, pdf, pdf_type),) = message.attachments
    assert (filename, pdf_type) == ("clarm-summary-sakura-florist-2025-03-13.pdf", "application/pdf")
    assert pdf.startswith(b"%PDF")
    document = summary_pdf_document(summary_of(workspace), workspace_slug=workspace.slug)
    assert len(document.pages) == 1
    text = pdf_text(pdf, tmp_path, document=document)
    for words in ("Sakura Florist", "Aiko Tanaka", "Asia/Tokyo", "Best campaign", "Busiest", "Piano moving"):
        assert words in text


def test_the_zone_decides_the_days(florist):
    """The same events read in Los Angeles: Dee's Thursday-evening visit in Tokyo is Thursday
    morning there, still this week; Aiko's Monday lunch in Tokyo is Sunday evening."""
    ws = florist.workspace
    assert summary_of(ws).busiest[0].label == "19:00–20:00"
    ws.timezone = "America/Los_Angeles"
    ws.save(update_fields=["timezone"])
    rollups_rebuild(workspace=ws, start=datetime.date(2025, 2, 20), end=datetime.date(2025, 3, 20), facts=True)
    summary = summary_of(ws)
    # Tokyo 19:00 is 02:00 in Los Angeles (PST, UTC-8; DST starts on 9 March: PDT, UTC-7, 03:00).
    assert summary.period.start == utc(2025, 3, 7, 8, 0)  # Fri 7 Mar 00:00 PST
    assert summary.busiest[0].label == "03:00–04:00"


def test_one_workspace_never_sees_another_ones_numbers(florist):
    other, _, _, _ = make_workspace("Brightside Dental", timezone_name="Asia/Tokyo")
    other.summary_recipients = ["desk@brightside.example"]
    other.save(update_fields=["summary_recipients"])
    for n in range(3):
        page(other, f"patient-{n}", jst(11, 10, n), "https://brightside.example/secret?utm_campaign=other-campaign")
    form(other, "patient-0", jst(11, 11, 0), email="bob@brightside.example", name="Bob Other")
    paid(other, "bob@brightside.example", jst(11, 11, 30), 99000)
    rollups(other)

    summary = summary_of(florist.workspace)
    assert (summary.new_people.current, summary.revenue.current) == (4, 7000)
    assert [a.name for a in summary.new_accounts] == ["Aiko Tanaka"]
    assert all("secret" not in row.path for row in summary.top_pages)
    assert summary.best_campaign is not None and summary.best_campaign.name == "spring"

    with time_machine.travel(SEND, tick=False):
        weekly_summaries_due()
    by_recipient = {message.to[0]: message for message in mail.outbox}
    mine = by_recipient["owner@sakura.example"]
    theirs = by_recipient["desk@brightside.example"]
    assert isinstance(mine, EmailMultiAlternatives)
    for part in (mine.body, str(mine.alternatives[0][0])):
        assert "Bob Other" not in part and "brightside" not in part and "other-campaign" not in part
    assert "Aiko" not in theirs.body and "sakura" not in theirs.body
    assert "Revenue: $990.00 (new vs $0.00 the week before)" in theirs.body
