"""Issue 10: verified provider webhooks follow an opted-out person's preference per purpose, through the
real signed endpoints (tracking/purposes.py decides; docs/privacy.md has the table)."""

import json

from identity.models import ConsentSource, Customer
from identity.privacy.services import preferences_update
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.test_sendgrid_calendly import post_sendgrid
from tracking.models import Event
from tracking.normalize import claims_from_values

EMAIL = "lee@example.com"


def _opted_out_person(workspace) -> Customer:
    customer = Customer.objects.create(workspace=workspace, email=EMAIL)
    (claim,) = claims_from_values(workspace, email=EMAIL).claims
    customer.identifiers.create(workspace=workspace, kind=claim.kind, value_hash=claim.value_hash, masked=claim.masked)
    preferences_update(
        workspace=workspace, customer=customer, changes={"analytics": False}, source=ConsentSource.PREFERENCES
    )
    return customer


def test_sendgrid_keeps_receipts_and_the_unsubscribe_but_refuses_engagement(tenant, sendgrid_a, sendgrid_keys, hook):
    lee = _opted_out_person(tenant.workspace)
    batch = [
        {"email": EMAIL, "timestamp": 1718903000 + i, "event": kind, "sg_event_id": f"ev-{kind}"}
        for i, kind in enumerate(("delivered", "open", "click", "unsubscribe"))
    ]
    r = post_sendgrid(hook, tenant.workspace, sendgrid_keys, json.dumps(batch))
    assert r.status_code == 200 and r.json()["stored"] == 4
    assert set(Event.objects.filter(customer=lee).values_list("event", flat=True)) == {
        "email_delivered",
        "email_unsubscribed",
    }
    # every delivery was verified and processed; the refused ones just left nothing on the timeline
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PROCESSED}
    lee.refresh_from_db()
    assert lee.allow_marketing_email is False  # the consent record itself was applied


def test_the_generic_webhook_keeps_payments_and_refuses_the_rest(tenant, generic_a, post_signed):
    lee = _opted_out_person(tenant.workspace)
    secret = generic_a.credentials["secret"]
    for body in (
        {"id": "crm-1", "event": "deal_viewed", "email": EMAIL},
        {"id": "crm-2", "event": "invoice_paid", "email": EMAIL, "ladder": "account"},
    ):
        assert post_signed("generic", tenant.workspace, json.dumps(body), secret=secret).status_code == 200
    assert list(Event.objects.filter(customer=lee).values_list("event", flat=True)) == ["invoice_paid"]
