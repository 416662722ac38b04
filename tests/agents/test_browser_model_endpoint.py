"""An owner sets the workspace's own model endpoint in Chromium at 1280 and 390 px and reads its
last error (axe-core: no serious or critical violation, no sideways scrolling)."""

import pytest
from django.utils import timezone

from agents.models import ModelEndpoint
from tests.browser import AXE_WIDTHS, SHOTS, axe_serious, overflow, session_sign_in, wide_elements
from tests.factories import make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_owner_sets_the_model_endpoint_and_reads_its_last_error(live_server, chromium_browser, settings, width):
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = True  # the address below is a local one
    workspace, owner, _, _ = make_workspace("Harbor Movers", timezone_name="Europe/Berlin")
    context = chromium_browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    session_sign_in(context, owner, live_server.url)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/w/{workspace.slug}/settings/agents/")
    section = tab.locator("[data-form='model']")
    assert section.get_by_role("heading", name="Your model endpoint").is_visible()
    section.get_by_label("Switched on").check()
    section.get_by_label("Endpoint URL").fill("http://127.0.0.1:8715/answer")
    section.get_by_label("Secret").fill("harbor-model-secret-0042")
    section.get_by_role("button", name="Save").click()
    assert tab.get_by_text("Model endpoint saved.").is_visible()
    endpoint = ModelEndpoint.objects.get(workspace=workspace)
    assert endpoint.enabled and endpoint.secret == "harbor-model-secret-0042"
    # The endpoint then timed out once: the owner reads why, and that the person went to the team.
    now = timezone.now()
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(
        last_called_at=now,
        last_outcome="failed",
        last_duration_ms=5004,
        last_error="No answer within 5 s. Handed to a person.",
        last_error_at=now,
    )
    tab.reload()
    section = tab.locator("[data-form='model']")
    assert "failed in 5004 ms" in section.locator("[data-model-status='failed']").inner_text()
    assert "No answer within 5 s. Handed to a person." in section.locator("[data-model-error]").inner_text()
    assert section.get_by_label("Secret").input_value() == ""  # never shown again
    tab.screenshot(path=str(SHOTS / f"agents-model-endpoint-{width}.png"), full_page=True)
    assert overflow(tab) <= 0, f"{overflow(tab)} px wider than {width} px: {wide_elements(tab)}"
    assert axe_serious(tab) == []
