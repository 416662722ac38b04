"""Password guessing is limited on every login form (the workspace login and the Django admin), per
client address by the same trusted-proxy rule as ingest (clarm.clientip.client_ip)."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tests.workspaces.conftest import PASSWORD, verified_user

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"  # the reverse proxy every request comes through


def _staff():  # untyped: the factory's instance as the test uses it
    return UserFactory(is_staff=True, is_superuser=True)


def _admin_login(client, username: str, password: str, **headers):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, **headers
    )


def _signed_in_admin(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_admin_login_refuses_the_right_password_after_30_wrong_ones(client):
    staff = _staff()
    for _ in range(30):
        _admin_login(client, staff.username, "wrong password")
    response = _admin_login(client, staff.username, PASSWORD)
    assert response.status_code == 200  # the form again, not the redirect into the admin
    assert "Too many failed login attempts" in response.content.decode()
    assert not _signed_in_admin(client)


def test_admin_login_still_works_for_staff_with_few_mistakes(client):
    staff = _staff()
    _admin_login(client, staff.username, "wrong password")
    response = _admin_login(client, staff.username, PASSWORD)
    assert response.status_code == 302
    assert _signed_in_admin(client)


def test_admin_login_limit_is_per_client_behind_a_trusted_proxy(client, settings):
    settings.CLARM_TRUSTED_PROXY_COUNT = 1
    staff = _staff()
    for n in range(12):  # an attacker guessing other accounts' passwords (past the 10/min per address)
        _admin_login(client, f"nobody{n}", "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    locked = _admin_login(client, "nobody0", "guess", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert "Too many failed login attempts" in locked.content.decode()
    # Staff behind the same proxy, from another address, are not locked out.
    response = _admin_login(client, staff.username, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 302
    assert _signed_in_admin(client)


def _login(client, email: str, password: str, *, forwarded: str):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def _signed_in(client) -> bool:
    home = client.get(reverse("workspaces:home"))
    return "/accounts/login/" not in home.get("Location", "")


def test_workspace_login_behind_a_proxy_does_not_lock_out_other_clients(client, settings):
    settings.CLARM_TRUSTED_PROXY_COUNT = 1
    user = verified_user("ana@example.com")
    for n in range(12):
        _login(client, f"victim{n}@example.com", "guess", forwarded="203.0.113.5")
    locked = _login(client, "x@example.com", "guess", forwarded="203.0.113.5")
    assert "Too many failed login attempts" in locked.content.decode()

    response = _login(client, user.email, PASSWORD, forwarded="198.51.100.7")
    assert response.status_code == 302
    assert _signed_in(client)


def test_without_a_trusted_proxy_a_forged_forwarded_header_does_not_reset_the_limit(client, settings):
    settings.CLARM_TRUSTED_PROXY_COUNT = 0
    user = verified_user("ana@example.com")
    for n in range(12):  # each guess claims another address; all come from one connection
        _login(client, f"victim{n}@example.com", "guess", forwarded=f"198.51.100.{n}")
    response = _login(client, user.email, PASSWORD, forwarded="192.0.2.99")
    assert "Too many failed login attempts" in response.content.decode()
    assert not _signed_in(client)
