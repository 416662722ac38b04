"""Signed bodies of every odd shape, to every provider: never a 500, never a retry loop. Each verified
delivery ends processed, ignored or rejected with a reason (the probe list of issue 11, widened)."""

import hashlib
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from integrations.inbound import timestamped_hmac_header
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import CALENDLY_KEY, TWILIO_TOKEN, stripe_header
from tracking.models import PendingEvent

DEEP = "[" * 5000 + "]" * 5000
DEEP_IN_OBJECT = '{"id": "deep-1", "event": "e", "properties": {"a": ' + "[" * 900 + "]" * 900 + "}}"
SHAPES = [
    "[]",
    "{}",
    "null",
    "1",
    '"text"',
    "[{}]",
    '[{"sg_event_id": "x", "event": 5}]',
    '{"payload": []}',
    '{"payload": {"uri": {"a": 1}}, "event": "invitee.created"}',
    '{"id": "x", "event": 5}',
    '{"id": "x", "type": "invoice.paid", "created": 1718900000, "data": {"object": {"metadata": [1]}}}',
    '{"id": "x", "type": "invoice.paid", "created": true, "data": {"object": {}}}',
    DEEP,
    DEEP_IN_OBJECT,
    "1" * 5000,
    '{"id": "' + "i" * 2000 + '", "event": "e"}',
    "\ufeff{}",
]


def _post(provider, workspace, body, hook, keys):
    ws = workspace.slug
    if provider == "stripe":
        return hook(f"/hooks/stripe/{ws}/", body, HTTP_STRIPE_SIGNATURE=stripe_header(body))
    if provider == "sendgrid":
        ts = str(int(time.time()))
        return hook(
            f"/hooks/sendgrid/{ws}/",
            body,
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=keys["sendgrid"].sign(body, ts),
            HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=ts,
        )
    if provider == "twilio":
        path = f"/hooks/twilio/{ws}/?bodySHA256={quote(hashlib.sha256(body.encode()).hexdigest())}"
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(settings.CLARM_PUBLIC_URL + path, {})
        return hook(path, body, "application/json", HTTP_X_TWILIO_SIGNATURE=signature)
    secret = CALENDLY_KEY if provider == "calendly" else keys["generic"]
    header = timestamped_hmac_header(body=body, secret=secret)
    name = "HTTP_CALENDLY_WEBHOOK_SIGNATURE" if provider == "calendly" else "HTTP_X_CLARM_SIGNATURE"
    return hook(f"/hooks/{provider}/{ws}/", body, **{name: header})


@pytest.mark.parametrize("provider", ["stripe", "sendgrid", "twilio", "calendly", "generic"])
def test_no_signed_shape_gives_a_500_or_a_retry_loop(
    provider, tenant, stripe_a, sendgrid_a, twilio_a, calendly_a, generic_a, sendgrid_keys, hook
):
    keys = {"sendgrid": sendgrid_keys, "generic": generic_a.credentials["secret"]}
    for body in SHAPES:
        response = _post(provider, tenant.workspace, body, hook, keys)
        assert response.status_code in (200, 400), (body[:60], response.status_code, response.content[:300])
        if response.status_code == 400:
            assert response.json()["error"]
    stuck = WebhookDelivery.objects.exclude(
        status__in=[DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED]
    )
    assert list(stuck.values_list("event_type", "status", "last_error")) == []
    rejected = WebhookDelivery.objects.filter(status=DeliveryStatus.REJECTED)
    assert all(d.last_error for d in rejected)
    # Processed means stored: no event of a processed delivery waits in the pipeline's queue (stuck).
    assert not PendingEvent.objects.exists()
