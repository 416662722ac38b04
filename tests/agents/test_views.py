"""The preview page and its PDF: members only, a bad week named in a 400."""

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.agents.conftest import utc
from tests.agents.summary_helpers import form, page, paid, rollups
from tests.factories import make_workspace
from workspaces.models import AuditLog

pytestmark = pytest.mark.django_db
NOW = utc(2025, 3, 16, 3, 0)  # Sunday in Tokyo


@pytest.fixture
def acme(tokyo):
    """Hana finds the bouquets on Wednesday 12 March, leaves her email and pays $45."""
    ws = tokyo.workspace
    page(ws, "hana", utc(2025, 3, 12), "https://sakura.example/bouquets")
    form(ws, "hana", utc(2025, 3, 12, 0, 5), email="hana@example.jp", name="Hana Sato")
    paid(ws, "hana@example.jp", utc(2025, 3, 12, 0, 10), 4500)
    rollups(ws)
    return tokyo


def test_member_sees_the_last_seven_days_and_a_pdf_link(client, acme):
    client.force_login(acme.owner)
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("agents:summary", kwargs={"ws": acme.workspace.slug}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Sakura Florist" in html and "#1 Hana Sato" in html and "/bouquets" in html and "$45.00" in html
    assert f'href="/w/{acme.workspace.slug}/summary.pdf"' in html
    assert "owner@sakura.example" in html
    assert '<option value="2025-W11" >Fri 7 – Thu 13 Mar 2025</option>' in html


def test_member_downloads_the_pdf_of_a_past_week(client, acme):
    client.force_login(acme.owner)
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse("agents:summary_pdf", kwargs={"ws": acme.workspace.slug}), {"week": "2025-W11"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="clarm-summary-sakura-florist-2025-03-13.pdf"'
    assert response.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ("last-week", "is not a week like 2025-W11"),
        ("2025-W60", "2025 has no ISO week 60"),
        ("2025-W12", "has not ended yet"),
    ],
)
@pytest.mark.parametrize("name", ["agents:summary", "agents:summary_pdf"])
def test_a_bad_week_is_a_400_that_says_why(client, acme, week, message, name):
    client.force_login(acme.owner)
    with time_machine.travel(NOW, tick=False):
        response = client.get(reverse(name, kwargs={"ws": acme.workspace.slug}), {"week": week})
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize("name", ["agents:summary", "agents:summary_pdf"])
def test_another_workspaces_member_gets_404_and_nothing_is_sent(client, acme, name):
    _, outsider, _, _ = make_workspace("Brightside Dental")
    client.force_login(outsider)
    response = client.get(reverse(name, kwargs={"ws": acme.workspace.slug}))
    assert response.status_code == 404
    assert b"Hana Sato" not in response.content
    missing = client.get(reverse(name, kwargs={"ws": "no-such-workspace"}))
    assert missing.status_code == 404
    assert mail.outbox == []
    assert not AuditLog.objects.filter(action="summary.sent").exists()


@pytest.mark.parametrize("name", ["agents:summary", "agents:summary_pdf"])
def test_anonymous_visitors_are_sent_to_log_in(client, acme, name):
    response = client.get(reverse(name, kwargs={"ws": acme.workspace.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_sendsummary_sends_the_latest_week_once_unless_forced(acme):
    with time_machine.travel(NOW, tick=False):
        call_command("sendsummary", "--workspace", acme.workspace.slug)
        assert len(mail.outbox) == 1
        assert "#1 Hana Sato" in mail.outbox[0].body
        call_command("sendsummary", "--workspace", acme.workspace.slug)
        assert len(mail.outbox) == 1
        call_command("sendsummary", "--workspace", acme.workspace.slug, "--force")
        assert len(mail.outbox) == 2
    rows = AuditLog.objects.filter(workspace=acme.workspace, action="summary.sent")
    assert [(r.target, r.details["forced"], r.details["recipients"]) for r in rows] == [
        ("2025-W11", True, 2),
        ("2025-W11", False, 2),
    ]
    first = rows.last()
    assert first is not None
    assert first.details["counts"] == {
        "new_customers": 1,
        "revenue_minor": 4500,
        "bookings": 0,
        "new_people": 1,
        "unanswered": 0,
    }


def test_sendsummary_names_bad_input(acme):
    with pytest.raises(CommandError, match="No workspace with the slug 'nope'"):
        call_command("sendsummary", "--workspace", "nope")
    with pytest.raises(CommandError, match="--week"):
        call_command("sendsummary", "--workspace", acme.workspace.slug, "--week", "2025-13")
    acme.workspace.summary_recipients = []
    acme.workspace.save(update_fields=["summary_recipients"])
    with pytest.raises(CommandError, match="has no summary recipients"):
        call_command("sendsummary", "--workspace", acme.workspace.slug)
    assert mail.outbox == []
