"""GET /api/consent (what the snippet asks before storing anything) and the daily IP salts."""

import datetime

import pytest
from django.utils import timezone

from tracking.models import DailySalt
from tracking.network import ip_hash
from tracking.tasks import ip_salts_rotate
from tracking.writekeys import write_keys_forget


@pytest.mark.parametrize(
    ("mode", "ip", "required"),
    [
        ("eu_only", "81.2.69.142", True),  # United Kingdom
        ("eu_only", "8.8.8.8", False),  # United States
        ("eu_only", "10.0.0.7", True),  # unknown country: ask
        ("always", "8.8.8.8", True),
        ("never", "81.2.69.142", False),
    ],
)
def test_consent_required_by_mode_and_country(client, tenant, mode, ip, required):
    tenant.workspace.consent_mode = mode
    tenant.workspace.save()
    r = client.get(f"/api/consent?key={tenant.write_key}", REMOTE_ADDR=ip, HTTP_ORIGIN="https://shop.example")
    assert r.status_code == 200
    assert r.json() == {"consent_required": required, "mode": mode, "gpc": False}
    assert r["Access-Control-Allow-Origin"] == "https://shop.example"


def test_consent_reports_global_privacy_control(client, tenant):
    r = client.get(f"/api/consent?key={tenant.write_key}", REMOTE_ADDR="8.8.8.8", HTTP_SEC_GPC="1")
    assert r.json()["gpc"] is True


def test_consent_needs_a_valid_key_and_an_allowed_origin(client, tenant):
    assert client.get("/api/consent").status_code == 401
    assert client.get("/api/consent?key=wk_nope").json()["error"] == "Unknown or revoked write key."
    tenant.workspace.allowed_origins = ["https://shop.example"]
    tenant.workspace.save()
    write_keys_forget()
    r = client.get(f"/api/consent?key={tenant.write_key}", HTTP_ORIGIN="https://evil.example")
    assert r.status_code == 403
    assert "Access-Control-Allow-Origin" not in r


def test_ip_hash_is_daily_salted_and_per_workspace(db):
    a = ip_hash("8.8.8.8", workspace_id=1)
    assert a == ip_hash("8.8.8.8", workspace_id=1)
    assert a != ip_hash("8.8.8.8", workspace_id=2)
    assert a != ip_hash("8.8.4.4", workspace_id=1)
    salt = DailySalt.objects.get()
    assert salt.date == timezone.now().date()
    assert "8.8.8.8" not in a


def test_salts_older_than_a_day_are_deleted(db):
    today = timezone.now().date()
    for days in (0, 1, 2, 30):
        DailySalt.objects.create(date=today - datetime.timedelta(days=days), salt=f"s{days}")
    assert ip_salts_rotate.delay().get() == 2
    assert sorted(DailySalt.objects.values_list("salt", flat=True)) == ["s0", "s1"]
    assert ip_salts_rotate.delay().get() == 0  # idempotent
