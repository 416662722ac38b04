"""Django admin for every workspaces model: changelists load, search works, the audit log is read-only."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from workspaces.models import ApiKey, AuditLog, Invitation, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("staff", "staff@clarm.test", "pw-staff-123")
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", ["workspace", "membership", "invitation", "apikey", "auditlog"])
def test_changelists_load_and_search(staff_client, tenant, model):
    Invitation.objects.create(workspace=tenant.workspace, email="inv@example.com", role=Role.ADMIN)
    url = reverse(f"admin:workspaces_{model}_changelist")
    response = staff_client.get(url)
    assert response.status_code == 200
    assert staff_client.get(url, {"q": "acme"}).status_code == 200


def test_change_pages_load(staff_client, tenant):
    invitation = Invitation.objects.create(workspace=tenant.workspace, email="inv@example.com")
    for model, obj in [
        ("workspace", tenant.workspace),
        ("membership", tenant.workspace.memberships.get()),
        ("invitation", invitation),
        ("apikey", ApiKey.objects.filter(workspace=tenant.workspace).earliest("pk")),
        ("auditlog", AuditLog.objects.filter(workspace=tenant.workspace).earliest("pk")),
    ]:
        response = staff_client.get(reverse(f"admin:workspaces_{model}_change", args=[obj.pk]))
        assert response.status_code == 200, model
        assert invitation.token not in response.content.decode()


def test_audit_log_is_read_only(staff_client, tenant):
    row = AuditLog.objects.filter(workspace=tenant.workspace).earliest("pk")
    assert staff_client.get(reverse("admin:workspaces_auditlog_add")).status_code == 403
    assert (
        staff_client.post(reverse("admin:workspaces_auditlog_delete", args=[row.pk]), {"post": "yes"}).status_code
        == 403
    )
    staff_client.post(reverse("admin:workspaces_auditlog_change", args=[row.pk]), {"action": "tampered"})
    row.refresh_from_db()
    assert row.action != "tampered"
    assert AuditLog.objects.filter(pk=row.pk).exists()
    assert staff_client.get(reverse("admin:workspaces_apikey_add")).status_code == 403
