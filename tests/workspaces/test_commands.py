"""`manage.py createworkspace` and `manage.py demo`."""

import io
import json

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from tests.workspaces.conftest import PASSWORD, active_key, verified_user
from workspaces.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_workspace_ensure
from workspaces.models import ApiKeyKind, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def _run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_createworkspace_plain_creates_owner_with_verified_email():
    out = _run(
        "createworkspace",
        "Harbor Dental",
        "--owner-email",
        "Owner@Harbor.test",
        "--timezone",
        "Europe/Dublin",
        "--region",
        "eu",
        "--country",
        "ie",
    )
    workspace = Workspace.objects.get(name="Harbor Dental")
    assert (workspace.timezone, workspace.region, workspace.default_country) == ("Europe/Dublin", "eu", "IE")
    user = get_user_model().objects.get(email="owner@harbor.test")
    assert not user.has_usable_password()
    assert EmailAddress.objects.get(user=user).verified
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.OWNER
    assert f"slug:       {workspace.slug}" in out
    assert f"id:         {workspace.pk}" in out
    write = out.split("write key:")[1].split()[0]
    secret = out.split("secret key:")[1].split()[0]
    assert active_key(ApiKeyKind.WRITE, write).workspace == workspace
    assert active_key(ApiKeyKind.SECRET, secret).workspace == workspace
    assert "/accounts/password/reset/" in out and "no password yet" in out


def test_createworkspace_json_reuses_an_existing_user():
    user = verified_user("existing@example.com")
    data = json.loads(_run("createworkspace", "Second Biz", "--owner-email", "existing@example.com", "--json"))
    workspace = Workspace.objects.get(pk=data["id"])
    assert data["slug"] == workspace.slug and data["owner_created"] is False
    assert Membership.objects.get(workspace=workspace).user == user
    assert active_key(ApiKeyKind.WRITE, data["write_key"]).workspace == workspace
    assert active_key(ApiKeyKind.SECRET, data["secret_key"]).workspace == workspace
    assert get_user_model().objects.filter(email__iexact="existing@example.com").count() == 1
    # The owner logs in with the password they already had.
    c = Client()
    c.post(reverse("account_login"), {"login": "existing@example.com", "password": PASSWORD})
    assert int(c.session["_auth_user_id"]) == user.pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone", "Mars/Base"], "“Mars/Base” is not a known time zone"),
        (["--region", "moon"], "“moon” is not a region of this deployment"),
        (["--country", "XX"], "“XX” is not a two-letter ISO 3166 country code"),
    ],
)
def test_createworkspace_bad_input_is_a_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        _run("createworkspace", "Nope", "--owner-email", "nope@example.com", *args)
    assert not Workspace.objects.exists()
    assert not get_user_model().objects.exists()


def test_createworkspace_bad_email():
    with pytest.raises(CommandError, match="not a valid email address"):
        _run("createworkspace", "Nope", "--owner-email", "nope")


def test_demo_is_idempotent_and_the_owner_can_log_in():
    out = _run("demo", "--base-url", "http://127.0.0.1:9999/", "--people", "0")  # the two journeys only
    assert "http://127.0.0.1:9999/accounts/login/" in out
    assert DEMO_EMAIL in out and DEMO_PASSWORD in out
    assert "Demo data: 22 events and deliveries stored" in out
    workspace = Workspace.objects.get(name="Demo Movers")
    assert (workspace.timezone, workspace.default_country) == ("America/Los_Angeles", "US")
    assert workspace.is_demo
    assert "Demo data already there (2 people)" in _run("demo")
    assert Workspace.objects.count() == 1
    assert get_user_model().objects.count() == 1
    again, write_key = demo_workspace_ensure()
    assert again == workspace
    assert active_key(ApiKeyKind.WRITE, write_key).workspace == workspace
    assert write_key in out

    c = Client()
    c.post(reverse("account_login"), {"login": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert c.get(reverse("workspaces:home"))["Location"] == reverse("identity:dashboard", kwargs={"ws": workspace.slug})
