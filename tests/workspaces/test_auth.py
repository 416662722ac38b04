"""Sign up, verify the email, log in and out, reset a password: allauth inside Clarm's pages."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from tests.workspaces.conftest import PASSWORD, found, verified_user
from workspaces.models import AuditLog, Membership, Role, Workspace

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer new passphrase 42"


def _link(body: object, path_fragment: str) -> str:
    link = found(r"https?://[^\s]+" + re.escape(path_fragment) + r"[^\s]*", body)
    return link.split("testserver", 1)[-1]


def test_signup_verify_then_create_a_workspace(client):
    response = client.post(
        reverse("account_signup"), {"email": "Ana@Example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    # Verification is mandatory: not logged in yet.
    assert client.get(reverse("workspaces:home")).status_code == 302
    assert "/accounts/login/" in client.get(reverse("workspaces:home"))["Location"]

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert "Clarm" in message.body and "example.com!" not in message.body
    confirm_path = _link(message.body, "/accounts/confirm-email/")

    page = client.get(confirm_path)
    assert page.status_code == 200
    assert "Confirm Email Address" in page.content.decode()
    assert 'class="card auth"' in page.content.decode()  # our layout, not allauth's bare one

    response = client.post(confirm_path, follow=True)
    # Logged in and, with no workspace yet, on "create workspace".
    assert response.redirect_chain[-1][0] == reverse("workspaces:create")
    assert "Create your workspace" in response.content.decode()

    response = client.post(
        reverse("workspaces:create"),
        {"name": "Ana's Bakery", "timezone": "Europe/Lisbon", "default_country": "pt", "region": "eu"},
    )
    workspace = Workspace.objects.get(name="Ana's Bakery")
    assert response.status_code == 302
    assert response["Location"] == reverse("workspaces:install", kwargs={"ws": workspace.slug})
    assert (workspace.timezone, workspace.default_country, workspace.region) == ("Europe/Lisbon", "PT", "eu")
    user = get_user_model().objects.get(email__iexact="ana@example.com")
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.OWNER
    assert AuditLog.objects.filter(workspace=workspace, action="workspace.created", actor=user).exists()

    install = client.get(response["Location"]).content.decode()
    assert "Install the Clarm snippet" in install
    assert "data-key=&quot;wk_" in install  # the real snippet, escaped to be shown as code


def test_signup_with_bad_input_names_the_problem(client):
    response = client.post(reverse("account_signup"), {"email": "not-an-email", "password1": "x", "password2": "y"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a valid email address." in body
    assert get_user_model().objects.count() == 0


def test_login_and_logout(client):
    user = verified_user("bo@example.com")
    response = client.post(reverse("account_login"), {"login": "bo@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()

    response = client.post(reverse("account_login"), {"login": "bo@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("workspaces:home")
    assert client.get(reverse("workspaces:home"))["Location"] == reverse("workspaces:create")
    assert int(client.session["_auth_user_id"]) == user.pk

    # Logging out is a POST (a GET only shows the confirmation page).
    assert client.get(reverse("account_logout")).status_code == 200
    assert "_auth_user_id" in client.session
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


def test_unverified_user_cannot_log_in(client):
    user = verified_user("cy@example.com")
    user.emailaddress_set.update(verified=False)
    client.post(reverse("account_login"), {"login": "cy@example.com", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert any("confirm-email" in m.body for m in mail.outbox)


def test_password_reset(client):
    user = verified_user("di@example.com")
    response = client.post(reverse("account_reset_password"), {"email": "di@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    reset_path = _link(mail.outbox[0].body, "/accounts/password/reset/key/")

    form_page = client.get(reset_path, follow=True)
    assert form_page.status_code == 200
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else reset_path
    bad = client.post(action, {"password1": NEW_PASSWORD, "password2": "different"})
    assert "You must type the same password each time." in bad.content.decode()
    response = client.post(action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    client.logout()
    client.post(reverse("account_login"), {"login": "di@example.com", "password": NEW_PASSWORD})
    assert int(client.session["_auth_user_id"]) == user.pk


def test_account_pages_use_clarm_layout(client):
    for name in ("account_login", "account_signup", "account_reset_password"):
        body = client.get(reverse(name)).content.decode()
        assert 'class="topbar"' in body and 'class="card auth"' in body, name
        assert "Menu:" not in body
