"""A workspace of another region: every public privacy endpoint refuses and stores nothing."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from identity.models import ConsentRecord, Customer, DataSubjectRequest, Suppression
from identity.privacy.services import dsr_create
from identity.privacy.tokens import dsr_verify_token, preferences_token, unsubscribe_token
from workspaces.models import AuditLog, Workspace

pytestmark = pytest.mark.django_db


def test_other_region_is_refused_everywhere(client, tenant, person, settings):
    dsr = dsr_create(workspace=tenant.workspace, customer=person.customer, kind="erasure", via="preferences")
    Workspace.objects.filter(pk=tenant.workspace.pk).update(region="us")
    settings.CLARM_REGION = "eu"
    audit_before = AuditLog.objects.count()

    device = f"{reverse('privacy:preferences')}?{urlencode({'key': tenant.write_key, 'vid': person.devices[0]})}"
    token = reverse("privacy:preferences_token", kwargs={"token": preferences_token(person.customer)})
    unsub = reverse("privacy:unsubscribe", kwargs={"token": unsubscribe_token(person.customer, "marketing_email")})
    verify = reverse("privacy:dsr_verify", kwargs={"token": dsr_verify_token(dsr)})
    download = reverse("privacy:dsr_download", kwargs={"token": dsr_verify_token(dsr), "fmt": "json"})
    calls = [
        ("get", device, {}),
        ("post", device, {"action": "optout_all"}),
        ("post", token, {"action": "request", "kind": "export"}),
        ("get", unsub, {}),
        ("post", unsub, {}),
        ("get", verify, {}),
        ("post", verify, {}),
        ("post", download, {}),
    ]
    for method, url, data in calls:
        response = getattr(client, method)(url, data)
        assert response.status_code == 421, url
        html = response.content.decode()
        assert "Served in another region" in html and "“us” region" in html
        assert person.email not in html

    customer = Customer.objects.get(pk=person.customer.pk)
    assert customer.allow_analytics and customer.allow_marketing_email
    assert not Suppression.objects.exists() and not ConsentRecord.objects.exists()
    assert DataSubjectRequest.objects.get().status == "requested"
    assert AuditLog.objects.count() == audit_before
