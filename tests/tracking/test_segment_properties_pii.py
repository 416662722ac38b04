"""Segment track calls that carry the person's email or phone in `properties` (an order, a form):
the contact details are stitched to the customer and never stored in clear with the event."""

import base64
import json

from identity.models import Identifier
from tracking.models import Event


def _post(client, tenant, call: str, body: dict):
    auth = "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    return client.post(f"/v1/{call}", data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth)


def test_properties_email_and_phone_are_stitched_and_masked(client, tenant):
    body = {
        "event": "Order Completed",
        "anonymousId": "anon-123456",
        "messageId": "order-1",
        "properties": {"email": "jane.doe@example.com", "phone": "+14155550123", "total": 5},
    }
    r = _post(client, tenant, "track", body)
    assert r.status_code == 200, r.content
    assert r.json()["accepted"] == 1
    event = Event.objects.get()
    stored = json.dumps(event.properties) + json.dumps(event.context)
    assert "jane.doe@example.com" not in stored and "4155550123" not in stored
    assert event.properties == {"email": "j***@example.com", "phone": "+14******23", "total": 5}
    customer = event.customer
    assert customer is not None
    assert customer.email == "jane.doe@example.com"
    assert customer.phone == "+14155550123"
    kinds = sorted(Identifier.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == ["device", "email", "phone"]


def test_context_traits_still_win_over_properties(client, tenant):
    body = {
        "event": "Signed Up",
        "anonymousId": "anon-777777",
        "context": {"traits": {"email": "owner@example.com"}},
        "properties": {"email": "other@example.com", "plan": "pro"},
    }
    assert _post(client, tenant, "track", body).status_code == 200
    event = Event.objects.get()
    assert event.customer is not None and event.customer.email == "owner@example.com"
    assert "other@example.com" not in json.dumps(event.properties)
    assert event.properties["plan"] == "pro"
