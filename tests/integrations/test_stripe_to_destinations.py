"""A Stripe payment, verified and processed by the webhook path, reaches the destinations after its
commit: Meta gets a Purchase with value and currency (system_generated), a webhook gets
customer.rung_reached for rung 4."""

import hashlib

import pytest

from integrations.destinations import dispatch
from integrations.destinations.services import destination_create
from tests.destinations.conftest import FakeProvider, Reply
from tests.integrations.conftest import fixture_text
from tracking.models import Event


@pytest.fixture
def meta_server(settings):
    server = FakeProvider()
    server.default = Reply(200, {"events_received": 1, "fbtrace_id": "x"})
    settings.CLARM_META_API_URL = server.url
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = True
    dispatch._memo.clear()
    yield server
    server.stop()


def test_a_stripe_payment_is_sent_to_meta_as_a_purchase_and_to_a_webhook_as_rung_4(
    tenant, stripe_a, post_stripe, meta_server
):
    destination_create(
        workspace=tenant.workspace,
        provider="meta_capi",
        name="Meta",
        actor=None,
        config={"pixel_id": "42", "access_token": "tok"},
        rules=[{"on": "event", "event": "payment_received", "map_to": "Purchase"}],
    )
    destination_create(
        workspace=tenant.workspace,
        provider="webhook",
        name="Hook",
        actor=None,
        config={"url": meta_server.url + "/hook"},
        rules=[{"on": "rung_reached", "rung": 4}],
    )
    assert post_stripe(tenant.workspace, fixture_text("stripe_payment_intent_succeeded.json")).status_code == 200
    by_path = {s.path: s for s in meta_server.requests}
    (event,) = by_path["/v21.0/42/events"].json()["data"]
    stored = Event.objects.get(workspace=tenant.workspace, event="payment_received")
    assert event["event_name"] == "Purchase" and event["event_id"] == str(stored.pk)
    assert event["action_source"] == "system_generated"
    assert event["custom_data"] == {"value": 150.0, "currency": "USD"}
    assert event["user_data"]["em"] == [hashlib.sha256(b"dana.whitfield@example.com").hexdigest()]
    hook = by_path["/hook"].json()
    assert hook["type"] == "customer.rung_reached" and hook["data"]["customer"]["customer_number"] == 1
