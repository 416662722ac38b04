"""In Chromium at 1280 and 390 px (axe-core: no serious or critical violation, no sideways scrolling):
a person moves their booking from the booking page with the keyboard only, and an owner reads a
refund thread's sentiment chart."""

import datetime
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from agents.booking_links import booking_url
from agents.dialogs import when_label
from agents.models import Booking, BookingStatus
from agents.services import agent_setting_save
from agents.tasks import agents_tick
from tests.agents.helpers import person
from tests.agents.test_booking_assistant import NEW_YORK, nines
from tests.agents.test_qualify import chat
from tests.browser import AXE_WIDTHS, SHOTS, axe_serious, overflow, session_sign_in, wide_elements
from tests.factories import make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hudson():
    workspace, owner, _, _ = make_workspace("Hudson Movers", timezone_name="America/New_York")
    agent_setting_save(
        workspace=workspace, agent="booking_assistant", enabled=True, config={"availability": "Mon-Sun 09:00-10:00"}
    )
    return workspace, owner


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_the_person_moves_their_booking_with_the_keyboard(hudson, live_server, chromium_browser, width):
    workspace, _ = hudson
    days = nines(timezone.now(), 4)
    dana = person(workspace, email="dana@example.com")
    booking = Booking.objects.create(
        workspace=workspace,
        customer=dana,
        start_at=days[2],
        end_at=days[2] + datetime.timedelta(hours=1),
        source="availability",
    )
    path = urlsplit(booking_url(booking)).path
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.goto(live_server.url + path)
    assert tab.get_by_role("heading", name="Your booking with Hudson Movers").is_visible()
    assert tab.get_by_text(when_label(days[2], NEW_YORK)).is_visible()
    group = tab.get_by_role("group", name="Open times")
    assert group.get_by_role("radio").count() == 3
    assert overflow(tab) <= 0, f"{overflow(tab)} px wider than {width} px: {wide_elements(tab)}"
    assert axe_serious(tab) == []
    tab.screenshot(path=str(SHOTS / f"booking-page-{width}.png"), full_page=True)
    # Keyboard only: Tab reaches the first open time, the arrow keys choose, Enter submits.
    for _ in range(10):
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.name") == "start":
            break
    assert tab.evaluate("document.activeElement.id") == "slot-1"
    tab.keyboard.press("ArrowDown")
    tab.keyboard.press("ArrowDown")
    chosen = tab.get_by_role("radio", name=when_label(days[3], NEW_YORK))
    assert chosen.is_checked() and tab.evaluate("document.activeElement.id") == "slot-3"
    tab.keyboard.press("Enter")
    tab.wait_for_url(f"**{path}")
    status = tab.get_by_role("status")
    assert f"Your booking is moved to {when_label(days[3], NEW_YORK)}." in status.inner_text()
    assert axe_serious(tab) == []
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED
    assert Booking.objects.get(workspace=workspace, status=BookingStatus.BOOKED).start_at == days[3]


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_owner_reads_the_refund_threads_sentiment_chart(hudson, live_server, chromium_browser, width):
    workspace, owner = hudson
    agent_setting_save(workspace=workspace, agent="refund_handler", enabled=True)
    first = chat(workspace, "The movers broke my lamp, this is awful. I want a refund.")
    agents_tick()
    chat(workspace, "Thanks, that was quick and kind. Really appreciate it!", session=first.session)
    customer = first.session.customer
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, owner, live_server.url)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/w/{workspace.slug}/inbox/{customer.pk}/")
    card = tab.locator("[data-refund-mood]")
    assert card.get_by_role("heading", name="Sentiment since the refund request").is_visible()
    assert card.get_by_role("img").is_visible()
    assert "over 2 messages: improving." in card.locator("[data-mood-words]").inner_text()
    assert card.get_by_role("table").get_by_role("row").count() == 3  # the header and 2 points
    assert overflow(tab) <= 0, f"{overflow(tab)} px wider than {width} px: {wide_elements(tab)}"
    assert axe_serious(tab) == []
    card.screenshot(path=str(SHOTS / f"refund-mood-{width}.png"))
