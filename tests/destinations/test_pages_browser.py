"""Integrations → Destinations in Chromium at 1280 and 390 px: the list and a destination's delivery
log fit the screen and pass axe-core (no serious or critical violation); an owner adds a webhook, sends
a test event, and removes it (asked first) through the page, under the Content-Security-Policy."""

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.destinations.models import (
    DeliveryKind,
    DeliveryState,
    Destination,
    DestinationDelivery,
    DestinationStatus,
)
from integrations.destinations.services import destination_create
from tests.browser import SHOTS, axe_serious, overflow, session_sign_in
from tests.destinations.conftest import Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make(tenant, provider, config, rules):
    return destination_create(
        workspace=tenant.workspace, provider=provider, name=f"{provider} main", config=config, rules=rules, actor=None
    )


@pytest.fixture
def log(tenant, provider):
    """Destinations of every kind of state, one with a delivery log of every status."""
    hubspot = make(tenant, "hubspot", {"token": "pat-1"}, [{"on": "rung_reached", "rung": 4}])
    meta = make(tenant, "meta_capi", {"pixel_id": "1", "access_token": "EAAB"}, [{"on": "event", "event": "purchase"}])
    Destination.objects.filter(pk=meta.pk).update(status=DestinationStatus.FAILING, failing_since=timezone.now())
    make(tenant, "webhook", {"url": provider.url + "/hook"}, [{"on": "high_intent_visitor"}])
    answers = {
        DeliveryState.DELIVERED: (200, 'HTTP 200: {"status": "COMPLETE", "results": [{"id": "9001"}]}'),
        DeliveryState.RETRYING: (503, "HTTP 503: upstream unavailable, retrying with backoff " * 3),
        DeliveryState.FAILED: (400, 'HTTP 400: {"message": "Property values were not valid"}'),
        DeliveryState.SKIPPED: (None, "Skipped: the person opted out of analytics tracking."),
        DeliveryState.PENDING: (None, ""),
    }
    for n, (state, (code, answer)) in enumerate(answers.items()):
        DestinationDelivery.objects.create(
            workspace=tenant.workspace,
            destination=hubspot,
            kind=DeliveryKind.OPTOUT if n == 4 else DeliveryKind.RUNG_REACHED,
            key=f"rung_reached:4:{1000 + n}" if n != 4 else "optout:9001:marketing_email:20261205T100000000000",
            customer_id=1000 + n,
            status=state,
            attempts=n + 1,
            last_status_code=code,
            last_answer=answer,
            next_attempt_at=timezone.now() if state in (DeliveryState.RETRYING, DeliveryState.PENDING) else None,
            remote_id="9001",
        )
    return hubspot


@pytest.mark.parametrize("width", (1280, 390))
def test_destination_pages_fit_the_screen_and_pass_axe(tenant, log, live_server, chromium_browser, width):
    ws = tenant.workspace.slug
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, tenant.owner, live_server.url)
    page = context.new_page()
    pages = {
        "destinations": reverse("integrations:destinations", kwargs={"ws": ws}),
        "destination": reverse("integrations:destination", kwargs={"ws": ws, "pk": log.pk}),
    }
    for name, path in pages.items():
        page.goto(live_server.url + path)
        page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
        assert overflow(page) <= 0, f"{name} is {overflow(page)} px wider than a {width} px screen"
        assert axe_serious(page) == [], name
    # The log shows what a member needs: each status, the answer, and the opt-out row by its kind.
    rows = page.locator("#deliveries tbody tr")
    assert rows.count() == 5
    assert page.get_by_text("Skipped: the person opted out of analytics tracking.").is_visible()
    assert page.locator("#deliveries").get_by_text("Opt-out").is_visible()


def test_an_owner_adds_tests_and_removes_a_webhook_in_the_browser(tenant, provider, live_server, chromium_browser):
    provider.default = Reply(202, {"received": True})
    context = chromium_browser.new_context(viewport={"width": 390, "height": 900})  # the page's own CSP
    session_sign_in(context, tenant.owner, live_server.url)
    page = context.new_page()
    page.goto(live_server.url + reverse("integrations:destinations", kwargs={"ws": tenant.workspace.slug}))
    page.get_by_text("Outbound webhook", exact=True).click()
    form = page.locator("#add-webhook")
    form.get_by_label("Name").fill("Ops hook")
    form.get_by_label("Endpoint URL").fill(provider.url + "/ops")
    form.get_by_role("button", name="Add").click()
    page.wait_for_url("**/integrations/destinations/*/")
    assert page.locator("h1").inner_text().startswith("Ops hook")
    assert page.get_by_text("Signing secret (shown once): whsec_").is_visible()

    page.get_by_role("button", name="Send a test event").click()
    assert page.get_by_text("The provider answered: HTTP 202").is_visible()
    assert provider.requests[-1].path == "/ops"

    destination = Destination.objects.get(workspace=tenant.workspace)
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Remove").click()
    assert questions == ["Remove this destination and its delivery log?"]
    assert Destination.objects.filter(pk=destination.pk).exists()  # dismissed: kept
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remove").click()
    page.wait_for_url("**/integrations/destinations/")
    assert not Destination.objects.filter(pk=destination.pk).exists()
    assert page.get_by_text("No destination yet.").is_visible()
