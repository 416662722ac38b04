"""The chat widget in Chromium against the real server: loaded by clarm.js only when switched on and
allowed, keyboard and screen-reader usable (axe-core clean), messages both ways, survives a reload,
asks for an email when handed to a person, respects consent and GPC."""

from __future__ import annotations

import gzip

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.models import Conversation, Message
from agents.services import conversation_reply
from agents.webchat import widget_save
from identity.models import Customer
from tests.browser import AXE, desktop_context
from tests.snippet.conftest import REPO, Site

# The same guard against Django's async-safety check as the snippet's end-to-end tests (a fixture
# imported into the module applies to it), and the same wait.
from tests.snippet.test_snippet_e2e import _orm_beside_playwright, wait_for  # noqa: F401
from tracking.models import Event
from workspaces.models import Workspace

pytestmark = pytest.mark.browser

WIDGET = REPO / "static" / "clarm-widget.js"


def _setup(tenant, *, mode: str = "never", enabled: bool = True) -> None:
    Workspace.objects.filter(pk=tenant.workspace.pk).update(consent_mode=mode)
    widget_save(workspace=tenant.workspace, enabled=enabled, color="#0a7d4f", greeting="Hi! How can Acme help?")


def _open_site(browser: Browser, site: Site, live_server, tenant, *, gpc: bool = False) -> tuple[Page, list[str]]:
    context = desktop_context(browser)
    if gpc:
        context.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})")
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/widget" in r.url or "clarm-widget" in r.url else None)
    page.goto(site.url(consent="auto", host=live_server.url, key=tenant.write_key))
    return page, asked


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run({include: [['#clarm-chat'], ['#clarm-chat-open']]}, {resultTypes: ['violations']})"
    )
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]]


def test_widget_round_trip_keyboard_and_reload(site: Site, browser: Browser, live_server, tenant) -> None:
    _setup(tenant)
    page, _ = _open_site(browser, site, live_server, tenant)
    launcher = page.locator("#clarm-chat-open")
    expect(launcher).to_be_visible(timeout=10_000)
    expect(launcher).to_have_attribute("aria-label", "Chat with Acme Movers")
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(10, 125, 79)"
    assert axe_violations(page) == []

    # keyboard only: focus the button, Enter opens, focus goes to the message field
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Acme Movers")
    expect(dialog).to_be_visible()
    expect(launcher).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "clarm-chat-input"
    expect(dialog.get_by_role("log")).to_contain_text("Hi! How can Acme help?")
    assert axe_violations(page) == []
    # focus trap: Tab and Shift+Tab never leave the dialog
    for key in ["Tab"] * 5 + ["Shift+Tab"] * 7:
        page.keyboard.press(key)
        assert page.evaluate("!!document.activeElement.closest('#clarm-chat')"), key
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="widget_opened").exists())

    page.get_by_label("Your message").fill("Can you move a piano on Saturday?")
    page.get_by_label("Your message").press("Enter")
    message = wait_for(lambda: Message.objects.filter(workspace=tenant.workspace).first())
    assert message.body == "Can you move a piano on Saturday?" and message.channel == "web"
    sent = Event.objects.get(workspace=tenant.workspace, event="message_sent")
    page_view = Event.objects.filter(workspace=tenant.workspace, event="page_view").first()
    assert page_view is not None
    assert sent.customer_id == message.customer_id == page_view.customer_id  # one person: the page's visitor

    conversation_reply(workspace=tenant.workspace, customer=message.customer, body="Yes, we have a piano crew.")
    expect(dialog.get_by_role("log")).to_contain_text("Yes, we have a piano crew.", timeout=5_000)

    # survives a page load: still open, the whole chat shown again
    page.reload()
    dialog = page.get_by_role("dialog", name="Acme Movers")
    expect(dialog.get_by_role("log")).to_contain_text("Yes, we have a piano crew.", timeout=10_000)
    expect(dialog.get_by_role("log")).to_contain_text("Can you move a piano on Saturday?")
    assert Message.objects.filter(workspace=tenant.workspace).count() == 2

    # handed to a person with no email: the widget asks for one, and it identifies the visitor
    Conversation.objects.filter(workspace=tenant.workspace).update(needs_human=True)
    email = dialog.get_by_label("Leave your email so we can answer you even after you leave:")
    expect(email).to_be_visible(timeout=5_000)
    assert axe_violations(page) == []
    email.fill("dana@example.com")
    email.press("Enter")
    expect(email).to_be_hidden()
    wait_for(lambda: Customer.objects.filter(workspace=tenant.workspace, email="dana@example.com").exists())
    customer = Customer.objects.get(workspace=tenant.workspace, email="dana@example.com", status="live")
    assert customer.pk == message.customer_id or message.customer.merged_into_id == customer.pk

    # Escape closes and gives the focus back to the button
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "clarm-chat-open"
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="widget_closed").exists())


def test_widget_switched_off_is_never_loaded(site: Site, browser: Browser, live_server, tenant) -> None:
    _setup(tenant, enabled=False)
    page, asked = _open_site(browser, site, live_server, tenant)
    wait_for(lambda: Event.objects.filter(workspace=tenant.workspace, event="page_view").exists())
    page.wait_for_timeout(500)
    assert [u for u in asked if "/api/widget" in u] and not [u for u in asked if "clarm-widget.js" in u]
    assert page.locator("#clarm-chat-open").count() == 0


def test_widget_waits_for_consent(site: Site, browser: Browser, live_server, tenant) -> None:
    _setup(tenant, mode="always")
    page, asked = _open_site(browser, site, live_server, tenant)
    banner = page.get_by_role("dialog", name="Analytics consent")
    expect(banner).to_be_visible(timeout=10_000)
    page.wait_for_timeout(500)
    assert asked == [] and page.locator("#clarm-chat-open").count() == 0
    banner.get_by_role("button", name="Accept").click()
    expect(page.locator("#clarm-chat-open")).to_be_visible(timeout=10_000)


def test_widget_declined_or_gpc_never_loads(site: Site, browser: Browser, live_server, tenant) -> None:
    _setup(tenant, mode="always")
    page, asked = _open_site(browser, site, live_server, tenant)
    page.get_by_role("dialog", name="Analytics consent").get_by_role("button", name="Decline").click()
    page.wait_for_timeout(800)
    assert asked == [] and page.locator("#clarm-chat-open").count() == 0

    _setup(tenant, mode="never")
    page, asked = _open_site(browser, site, live_server, tenant, gpc=True)
    page.wait_for_timeout(1500)
    assert asked == [] and page.locator("#clarm-chat-open").count() == 0
    assert not Message.objects.exists()


def test_widget_file_is_small() -> None:
    """The extra a visitor downloads when the widget is on: under 10 KB gzipped (with the loader in
    clarm.js, about 150 B, counted in the snippet's test)."""
    assert len(gzip.compress(WIDGET.read_bytes(), 9)) < 9 * 1024
