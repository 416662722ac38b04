"""What the summary says: every figure checked against events written for the week, the
boundaries of the week, the quiet week, the email's three parts and tenant isolation."""

import pytest
import time_machine
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from agents.summary.periods import period_for_week, workspace_zone
from agents.summary.render import summary_pdf_document
from agents.summary.selectors import weekly_summary_get
from agents.tasks import weekly_summaries_due
from tests.agents.conftest import make_customer, make_event, pdf_text, utc
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db

# Tokyo's 2025-W11 covers Fri 7 Mar 17:00 JST (08:00 UTC) to Fri 14 Mar 17:00 JST.
WEEK_START = utc(2025, 3, 7, 8, 0)
WEEK_END = utc(2025, 3, 14, 8, 0)
IN_WEEK = utc(2025, 3, 10, 3, 0)
PREVIOUS_WEEK = utc(2025, 3, 3, 3, 0)


def summary_of(workspace, key="2025-W11"):
    return weekly_summary_get(workspace=workspace, period=period_for_week(key, workspace_zone(workspace.timezone)))


@pytest.fixture
def busy_week(tokyo):
    """A week with two new customers who climbed, a returning one, bots and campaigns."""
    ws = tokyo.workspace
    aiko = make_customer(ws, first_seen=IN_WEEK, rung=2, email="aiko@example.jp")
    make_event(ws, at=IN_WEEK, customer=aiko, url="https://sakura.example/?utm_campaign=spring", campaign="spring")
    make_event(ws, at=utc(2025, 3, 10, 3, 5), customer=aiko, event="identify", rung=2)

    hana = make_customer(ws, first_seen=utc(2025, 3, 11, 1, 0), rung=4, number=1, name="Hana Sato")
    make_event(
        ws,
        at=utc(2025, 3, 11, 1, 0),
        customer=hana,
        url="https://sakura.example/bouquets?utm_campaign=spring",
        campaign="spring",
    )
    make_event(ws, at=utc(2025, 3, 11, 1, 1), customer=hana, url="https://sakura.example/bouquets")
    make_event(ws, at=utc(2025, 3, 11, 1, 2), customer=hana, event="form_submit", rung=2)
    make_event(ws, at=utc(2025, 3, 11, 1, 9), customer=hana, event="message_received", source="channel", rung=3)
    make_event(ws, at=utc(2025, 3, 11, 1, 11), customer=hana, event="lead_qualified", source="agent", rung=3)
    make_event(ws, at=utc(2025, 3, 12, 2, 0), customer=hana, event="payment_succeeded", source="webhook", rung=4)

    # A returning customer: reached rung 2 in February, so this week's rung-2 email is no climb.
    kenji = make_customer(ws, first_seen=utc(2025, 2, 1), rung=2)
    make_event(ws, at=utc(2025, 2, 1), customer=kenji, event="identify", rung=2)
    make_event(ws, at=IN_WEEK, customer=kenji, event="email_opened", source="email", rung=2)
    make_event(ws, at=IN_WEEK, customer=kenji, url="https://sakura.example/bouquets", source="ad", campaign="brand")

    # The previous week: one new customer, three events.
    yui = make_customer(ws, first_seen=PREVIOUS_WEEK, rung=1)
    make_event(ws, at=PREVIOUS_WEEK, customer=yui, url="https://sakura.example/")
    make_event(ws, at=PREVIOUS_WEEK, customer=yui, url="https://sakura.example/about")
    make_event(ws, at=utc(2025, 3, 7, 7, 59), customer=yui, event="email_opened", source="email", rung=1)

    # The edges of the week: the start is in, the end is out; bots never count.
    make_event(ws, at=WEEK_START, event="pixel_loaded", source="pixel")
    make_event(ws, at=WEEK_END, url="https://sakura.example/next-week")
    make_event(ws, at=IN_WEEK, url="https://sakura.example/wp-login.php", is_bot=True)
    return tokyo


def test_every_figure_of_a_busy_week(busy_week):
    summary = summary_of(busy_week.workspace)

    assert (summary.new_customers.current, summary.new_customers.previous) == (2, 1)
    assert summary.new_customers.label == "+100%"
    assert (summary.events.current, summary.events.previous) == (11, 3)
    assert summary.events.label == "+267%"
    sources = {row.key: (row.count, change.previous) for row, change in summary.sources}
    assert sources == {
        "web": (5, 2),
        "email": (1, 1),
        "channel": (1, 0),
        "agent": (1, 0),
        "webhook": (1, 0),
        "pixel": (1, 0),
        "ad": (1, 0),
    }
    reached = {row.label: (row.count, change.label) for row, change in summary.reached}
    assert reached == {"email": (2, "new"), "phone": (1, "new"), "account": (1, "new")}
    assert [(a.customer_number, a.name) for a in summary.new_accounts] == [(1, "Hana Sato")]
    assert summary.new_accounts_count == 1
    assert {row.label: row.count for row in summary.ladder} == {
        "device": 0,
        "visitor": 1,
        "email": 2,
        "phone": 0,
        "account": 1,
    }
    assert summary.customers_total == 4
    # Query strings are not separate pages; the bot's page and next week's page are not there.
    assert [(row.key, row.label, row.count) for row in summary.top_pages] == [
        ("https://sakura.example/bouquets", "sakura.example/bouquets", 3),
        ("https://sakura.example/", "sakura.example/", 1),
    ]
    assert [(row.label, row.count) for row in summary.top_campaigns] == [("spring", 2), ("brand", 1)]
    assert not summary.is_quiet


def test_figures_are_aggregate_queries(busy_week, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        summary_of(busy_week.workspace)


def test_a_week_with_nothing_is_a_quiet_week(tokyo, tmp_path):
    make_customer(tokyo.workspace, first_seen=utc(2024, 12, 1), rung=2)  # an old customer, quiet this week
    summary = summary_of(tokyo.workspace)
    assert summary.is_quiet
    assert summary.events.current == 0
    assert summary.new_customers.label == "±0"
    assert [row.count for row in summary.ladder] == [0, 0, 1, 0, 0]
    assert summary.top_pages == [] and summary.top_campaigns == []

    with time_machine.travel(WEEK_END, tick=False):
        weekly_summaries_due()
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert "A quiet week" in message.body
    assert "A quiet week" in str(message.alternatives[0][0])
    document = summary_pdf_document(summary, workspace_slug=tokyo.workspace.slug)
    assert "A quiet week" in pdf_text(message.attachments[0][1], tmp_path, document=document)


def test_the_email_has_html_text_and_a_one_page_pdf(busy_week, tmp_path):
    workspace = busy_week.workspace
    with time_machine.travel(WEEK_END, tick=False):
        weekly_summaries_due()
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert message.to == ["owner@sakura.example", "shop@sakura.example"]
    assert message.subject == "[Clarm] Sakura Florist: your week to Fri 14 Mar"

    assert "New customers: 2 (+100% vs 1 last week)" in message.body
    assert "#1 Hana Sato" in message.body
    assert "  3  sakura.example/bouquets" in message.body
    assert "Fri 7 Mar 2025, 17:00 – Fri 14 Mar 2025, 17:00 (Asia/Tokyo)" in message.body

    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert all(text in str(html) for text in ("Sakura Florist", "#1 Hana Sato", "spring", "sakura.example/bouquets"))

    ((filename, pdf, pdf_type),) = message.attachments
    assert (filename, pdf_type) == ("clarm-summary-sakura-florist-2025-03-14.pdf", "application/pdf")
    assert pdf.startswith(b"%PDF")
    summary = summary_of(workspace)
    document = summary_pdf_document(summary, workspace_slug=workspace.slug)
    assert len(document.pages) == 1
    text = pdf_text(pdf, tmp_path, document=document)
    assert "Sakura Florist" in text
    assert "Hana Sato" in text
    assert "Asia/Tokyo" in text


def test_one_workspace_never_sees_another_ones_numbers(busy_week, tmp_path):
    other, _, _, _ = make_workspace("Brightside Dental", timezone_name="Asia/Tokyo")
    other.summary_recipients = ["desk@brightside.example"]
    other.save(update_fields=["summary_recipients"])
    stranger = make_customer(other, first_seen=IN_WEEK, rung=4, number=1, name="Bob Other")
    for _ in range(20):
        make_event(
            other,
            at=IN_WEEK,
            customer=stranger,
            url="https://brightside.example/secret",
            campaign="other-campaign",
            rung=4,
        )
    make_event(other, at=IN_WEEK, customer=stranger, event="payment_succeeded", source="webhook", rung=4)

    summary = summary_of(busy_week.workspace)
    assert summary.events.current == 11
    assert summary.new_customers.current == 2
    assert summary.customers_total == 4
    assert [a.name for a in summary.new_accounts] == ["Hana Sato"]
    assert all("brightside" not in row.key for row in summary.top_pages)
    assert all(row.label != "other-campaign" for row in summary.top_campaigns)

    with time_machine.travel(WEEK_END, tick=False):
        weekly_summaries_due()
    by_recipient = {message.to[0]: message for message in mail.outbox}
    mine = by_recipient["owner@sakura.example"]
    theirs = by_recipient["desk@brightside.example"]
    assert isinstance(mine, EmailMultiAlternatives)
    for part in (mine.body, str(mine.alternatives[0][0])):
        assert "Bob Other" not in part and "brightside" not in part and "other-campaign" not in part
    assert "Hana Sato" not in theirs.body and "sakura" not in theirs.body
    assert "Events: 21 (new vs 0 last week)" in theirs.body
