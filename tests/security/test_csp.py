"""A strict Content-Security-Policy on every page (scripts and <style> blocks only from Clarm or with
the request's nonce; no inline handlers), and no caching of pages that show secrets. The browser
tests (tests/browser.py) fail on any CSP violation, so each page is proven to work under it."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from clarm.demo.loading import demo_data_load
from tests.browser import SHOTS, chromium, session_sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)([^>]*)>", re.IGNORECASE)
STYLE_BLOCK = re.compile(r"<style([^>]*)>", re.IGNORECASE)


def _directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip() for part in header.split(";") if part.strip()}


def _pages(ws: str, customer_id: int) -> list[str]:
    return [
        f"/w/{ws}/install/",
        f"/w/{ws}/settings/",
        f"/w/{ws}/settings/members/",
        f"/w/{ws}/settings/keys/",
        f"/w/{ws}/settings/audit/",
        f"/w/{ws}/customers/",
        f"/w/{ws}/customers/{customer_id}/",
        f"/w/{ws}/live/",
        f"/w/{ws}/privacy/",
        f"/w/{ws}/summary/",
        f"/w/{ws}/integrations/",
        f"/w/{ws}/links/",
        "/app/new/",
        "/api/reference/",
    ]


def _staff():  # untyped: the factory's instance as the test uses it
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def owner(tenant):
    EmailAddress.objects.create(user=tenant.owner, email=tenant.owner.email, primary=True, verified=True)
    return tenant


@pytest.fixture
def demo(owner):
    assert demo_data_load(workspace=owner.workspace, write_key=owner.write_key, people=0).problems == []
    from identity.models import Customer

    return Customer.objects.filter(workspace=owner.workspace).order_by("pk").first()


def test_every_page_has_a_strict_csp_and_nonces_on_its_inline_code(owner, demo, client):
    client.force_login(owner.owner)
    anonymous = Client()
    staff = Client()
    staff.force_login(_staff())
    checked = 0
    with_nonce: set[str] = set()
    for who, path in (
        *((client, p) for p in _pages(owner.workspace.slug, demo.pk)),
        (anonymous, "/"),
        (anonymous, "/accounts/login/"),
        (anonymous, "/accounts/signup/"),
        (anonymous, "/accounts/password/reset/"),
        (anonymous, f"/privacy/preferences?key={owner.write_key}&vid=v-csp"),
        (anonymous, "/admin/login/"),
        (staff, "/admin/"),
        (staff, "/admin/identity/customer/"),
    ):
        response = who.get(path)
        assert response.status_code == 200, path
        policy = _directives(response)
        script_src = policy["script-src"]
        assert "'self'" in script_src, path
        assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, path
        assert "unsafe-inline" not in policy["style-src"], path
        assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
        # The nonce is in the policy only when the page used it (django-csp adds it on first use).
        found = re.search(r"'nonce-([^']+)'", script_src)
        nonce = found.group(1) if found else None
        html = response.content.decode()
        assert not INLINE_HANDLER.search(html), f"{path}: inline event handler"
        for attributes in INLINE_SCRIPT.findall(html) + STYLE_BLOCK.findall(html):
            if 'type="application/json"' in attributes:
                continue  # data, not code
            assert nonce and f'nonce="{nonce}"' in attributes, f"{path}: inline code without this request's nonce"
            with_nonce.add(path)
        checked += 1
    assert checked == 22
    assert f"/w/{owner.workspace.slug}/settings/keys/" in with_nonce  # its copy script runs with the nonce


def test_pages_that_show_secrets_or_personal_data_are_not_stored(owner, demo, client):
    client.force_login(owner.owner)
    ws = owner.workspace.slug
    for path in (
        f"/w/{ws}/settings/keys/",
        f"/w/{ws}/install/",
        f"/w/{ws}/customers/{demo.pk}/",
        f"/w/{ws}/integrations/",
    ):
        assert client.get(path)["Cache-Control"] == "no-store", path
    api = Client(headers={"Authorization": f"Bearer {owner.secret_key}"})
    assert api.get(f"/api/customers/{demo.pk}")["Cache-Control"] == "no-store"
    assert Client().get("/privacy/preferences/not-a-real-token")["Cache-Control"] == "no-store"
    # A public page with nothing personal keeps normal caching rules.
    assert not Client().get("/").has_header("Cache-Control")


def test_error_pages_carry_the_nonce_of_their_csp(owner, monkeypatch):
    from identity import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.CustomersView, "get", broken)
    c = Client(raise_request_exception=False)
    c.force_login(owner.owner)
    response = c.get(f"/w/{owner.workspace.slug}/customers/")
    assert response.status_code == 500
    found = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert found
    nonce = found.group(1)
    assert f'<style nonce="{nonce}">' in response.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_works_in_chromium_under_the_csp(live_server, owner, demo, chromium_browser):
    """Each page loads with no CSP violation and no script error (tests/browser.py fails the test
    otherwise); the copy button, the confirm dialog and the week selector still work."""
    ws = owner.workspace.slug
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    session_sign_in(context, owner.owner, live_server.url)
    page = context.new_page()
    for path in (*_pages(ws, demo.pk), f"/privacy/preferences?key={owner.write_key}&vid=v-csp"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")

    # The keys page: a confirm() question guards revoking; dismissing it sends nothing.
    page.goto(f"{live_server.url}/w/{ws}/settings/keys/")
    questions: list[str] = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.locator("form[data-confirm] button[type=submit]").first.click()
    page.wait_for_timeout(300)
    assert questions and "Continue?" in questions[0]
    assert page.url.endswith(f"/w/{ws}/settings/keys/")
    page.screenshot(path=f"{SHOTS}/keys-csp.png", full_page=True)

    # The summary's week selector submits its form on change (it was an inline onchange).
    page.goto(f"{live_server.url}/w/{ws}/summary/")
    options = page.locator("#week option")
    if options.count() > 1:
        value = options.nth(1).get_attribute("value")
        page.select_option("#week", value)
        page.wait_for_url(f"**week={value}**")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_check_fails_on_a_csp_violation(live_server):
    """The watcher itself: a script injected without the nonce is blocked and reported."""
    with pytest.raises(AssertionError, match="CSP violation"), chromium() as browser:
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';
                                 document.body.appendChild(s); }""")
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.x") is None  # blocked


def test_api_docs_is_a_page_that_works_under_the_csp(client):
    """`/api/docs/` was Redoc loaded from a CDN: blocked by the policy, a blank page. It now leads to
    the reference page served by Clarm (no script or stylesheet from elsewhere)."""
    response = client.get("/api/docs/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/api/reference/"
    body = response.content.decode()
    assert "https://" not in "".join(re.findall(r"<(?:script|link)[^>]*>", body))
    assert "/api/schema/" in body
