"""An owner reads the Inbox's FAQ topics and emerging topics in Chromium at 1280 and 390 px (axe-core: no
serious or critical violation, no sideways scrolling) and opens a topic's other questions."""

import datetime

import pytest
from django.utils import timezone

from agents.models import Message
from agents.services import agent_setting_save
from tests.agents.helpers import inbound, person
from tests.browser import AXE_WIDTHS, SHOTS, axe_serious, overflow, session_sign_in, wide_elements
from tests.factories import make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTIONS = (
    "Do you move pianos?",
    "We have an upright piano, can your crew take it down the stairs?",
    "piano moving??",
    "Do you also move a baby grand piano",
)


@pytest.fixture
def movers():
    """Four people asked about piano moving this week, which the movers' topics do not cover."""
    workspace, owner, _, _ = make_workspace("Harbor Movers", timezone_name="Europe/Berlin")
    agent_setting_save(workspace=workspace, agent="faq_topics", enabled=True, config={})
    at = timezone.now() - datetime.timedelta(days=1)
    for n, body in enumerate(QUESTIONS):
        customer = person(workspace, email=f"p{n}@harbor.example", phone=f"+4915112345{n:03d}", visitor=f"v{n}")
        message = inbound(customer, body, at=at)
        Message.objects.filter(pk=message.pk).update(created_at=at, topics=["Pricing"] if n == 3 else [])
    return workspace, owner


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_owner_reads_the_emerging_topics(movers, live_server, chromium_browser, width):
    workspace, owner = movers
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, owner, live_server.url)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/w/{workspace.slug}/inbox/")
    assert tab.get_by_role("heading", name="Emerging topics").is_visible()
    row = tab.locator("[data-emerging='piano']")
    assert "“Do you move pianos?”" in row.inner_text()
    tab.get_by_text("2 more").click()
    assert row.get_by_text("“piano moving??”").is_visible()
    tab.screenshot(path=str(SHOTS / f"inbox-emerging-{width}.png"), full_page=True)
    assert overflow(tab) <= 0, f"{overflow(tab)} px wider than {width} px: {wide_elements(tab)}"
    assert axe_serious(tab) == []
