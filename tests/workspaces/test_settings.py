"""Workspace settings: validation with clear messages, audit with before/after, members read only."""

import pytest
from django.test import Client
from django.urls import reverse

from workspaces.models import AuditLog, ConsentMode, Workspace

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _form(workspace: Workspace, **changes) -> dict:
    data = {
        "name": workspace.name,
        "timezone": workspace.timezone,
        "default_country": workspace.default_country,
        "retention_months": workspace.retention_months,
        "consent_mode": workspace.consent_mode,
        "summary_recipients": "\n".join(workspace.summary_recipients),
        "allowed_origins": "\n".join(workspace.allowed_origins),
    }
    data.update(changes)
    return data


def test_owner_saves_settings_and_audit_has_before_after(tenant):
    ws = tenant.workspace
    url = reverse("workspaces:settings", kwargs={"ws": ws.slug})
    response = _as(tenant.owner).post(
        url,
        _form(
            ws,
            name="Acme Movers Ltd",
            timezone="Europe/London",
            default_country="gb",
            retention_months=36,
            consent_mode=ConsentMode.ALWAYS,
            summary_recipients="boss@acme.test, ops@acme.test\nBOSS@acme.test",
            allowed_origins="https://Shop.Acme.test:443/\nhttp://localhost:8000",
        ),
    )
    assert response.status_code == 302
    ws.refresh_from_db()
    assert ws.name == "Acme Movers Ltd"
    assert (ws.timezone, ws.default_country, ws.retention_months, ws.consent_mode) == (
        "Europe/London",
        "GB",
        36,
        "always",
    )
    assert ws.summary_recipients == ["boss@acme.test", "ops@acme.test"]
    assert ws.allowed_origins == ["https://shop.acme.test", "http://localhost:8000"]
    row = AuditLog.objects.get(workspace=ws, action="workspace.settings_changed")
    assert row.actor == tenant.owner
    changes = row.details["changes"]
    assert changes["retention_months"] == {"before": 24, "after": 36}
    assert changes["timezone"] == {"before": "UTC", "after": "Europe/London"}
    assert changes["allowed_origins"]["before"] == []

    # Saving the same values again changes nothing and writes no audit row.
    _as(tenant.owner).post(url, _form(ws))
    assert AuditLog.objects.filter(workspace=ws, action="workspace.settings_changed").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("default_country", "ZZ", "“ZZ” is not a two-letter ISO 3166 country code"),
        ("default_country", "USA", "Ensure this value has at most 2 characters"),
        ("retention_months", "0", "Retention must be between 1 and 120 months."),
        ("retention_months", "121", "Retention must be between 1 and 120 months."),
        ("retention_months", "two", "Retention must be a whole number of months."),
        ("timezone", "Nowhere/City", "“Nowhere/City” is not a known time zone"),
        ("consent_mode", "sometimes", "Select a valid choice"),
        ("summary_recipients", "ok@example.com, bad@, also bad", "Not valid email addresses: “bad@”, “also”, “bad”."),
        ("allowed_origins", "https://shop.example/path", "use only scheme and host"),
        ("allowed_origins", "shop.example", "it must start with https://"),
        ("allowed_origins", "ftp://shop.example", "it must start with https://"),
        ("allowed_origins", "https://bad_host!.example", "is not a host name"),
        ("name", "   ", "This field is required."),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(tenant, field, value, message):
    ws = tenant.workspace
    before = Workspace.objects.filter(pk=ws.pk).values().get()
    response = _as(tenant.owner).post(
        reverse("workspaces:settings", kwargs={"ws": ws.slug}), _form(ws, **{field: value})
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Workspace.objects.filter(pk=ws.pk).values().get() == before
    assert not AuditLog.objects.filter(workspace=ws, action="workspace.settings_changed").exists()


def test_member_sees_read_only_settings_and_cannot_save(tenant, member_user):
    ws = tenant.workspace
    url = reverse("workspaces:settings", kwargs={"ws": ws.slug})
    c = _as(member_user)
    page = c.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Save settings" not in body and "disabled" in body
    before = Workspace.objects.filter(pk=ws.pk).values().get()
    assert c.post(url, _form(ws, name="Hijacked", retention_months=1)).status_code == 403
    assert Workspace.objects.filter(pk=ws.pk).values().get() == before


def test_admin_may_change_settings(tenant, admin_user):
    ws = tenant.workspace
    url = reverse("workspaces:settings", kwargs={"ws": ws.slug})
    assert _as(admin_user).post(url, _form(ws, retention_months=12)).status_code == 302
    ws.refresh_from_db()
    assert ws.retention_months == 12


def test_region_is_shown_not_editable(tenant):
    ws = tenant.workspace
    url = reverse("workspaces:settings", kwargs={"ws": ws.slug})
    body = _as(tenant.owner).get(url).content.decode()
    assert ws.region.upper() in body
    _as(tenant.owner).post(url, {**_form(ws), "region": "us" if ws.region != "us" else "eu"})
    assert Workspace.objects.get(pk=ws.pk).region == ws.region
