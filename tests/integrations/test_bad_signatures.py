"""Signature headers and codes no provider would send (non-ASCII, Unicode digits, NUL): a clear 4xx
and nothing stored, never a 500; a correctly signed delivery right after is still stored."""

import hashlib
import hmac
import json
import time

import pytest

from integrations.links import LinkKind, link_by_code
from integrations.models import WebhookDelivery
from tests.integrations.conftest import CALENDLY_KEY, fixture_text
from tests.integrations.test_sendgrid_calendly import post_sendgrid


def _generic_secret(connection) -> str:
    return connection.credentials["secret"]


@pytest.mark.parametrize("provider", ["generic", "calendly"])
def test_non_ascii_signature_is_a_401_and_a_good_one_still_lands(provider, tenant, generic_a, calendly_a, post_signed):
    secret = CALENDLY_KEY if provider == "calendly" else _generic_secret(generic_a)
    body = fixture_text("calendly_invitee_created.json" if provider == "calendly" else "generic_deal_won.json")
    t = int(time.time())
    r = post_signed(provider, tenant.workspace, body, secret=secret, header=f"t={t},v1=\u00e9\u00e9")
    assert r.status_code == 401
    assert r.json()["error"] == "Signature does not match the body."
    assert WebhookDelivery.objects.count() == 0
    good = post_signed(provider, tenant.workspace, body, secret=secret)
    assert good.status_code == 200, good.content
    assert WebhookDelivery.objects.count() == 1


def test_a_unicode_digit_timestamp_is_malformed_even_when_signed(tenant, generic_a, post_signed):
    body = json.dumps({"id": "evt-2", "event": "note"})
    secret = _generic_secret(generic_a)
    signature = hmac.new(secret.encode(), f"\u00b2.{body}".encode(), hashlib.sha256).hexdigest()
    r = post_signed("generic", tenant.workspace, body, secret=secret, header=f"t=\u00b2,v1={signature}")
    assert r.status_code == 400
    assert "Malformed X-Clarm-Signature header" in r.json()["error"]
    assert WebhookDelivery.objects.count() == 0


def test_sendgrid_unicode_digit_timestamp_is_malformed(tenant, sendgrid_a, sendgrid_keys, hook):
    payload = json.dumps([{"email": "a@example.com", "event": "open", "sg_event_id": "ZXZ0LTE"}])
    r = post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload, timestamp="\u00b2")
    assert r.status_code == 400
    assert "Malformed X-Twilio-Email-Event-Webhook-Timestamp header" in r.json()["error"]
    assert WebhookDelivery.objects.count() == 0
    assert post_sendgrid(hook, tenant.workspace, sendgrid_keys, payload).status_code == 200
    assert WebhookDelivery.objects.count() == 1


def test_link_and_pixel_codes_with_nul(tenant, client):
    assert link_by_code(code="ab\x00cd", kind=LinkKind.LINK) is None
    for path in ("/l/%00", "/l/abc%00", "/o/%00.gif"):
        r = client.get(path)
        assert r.status_code == 400
        assert r.content.decode() == "The request contains a NUL character."
