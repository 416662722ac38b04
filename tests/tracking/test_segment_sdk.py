"""The real Segment Python SDK (segment-analytics-python) pointed at a live Clarm server."""

import pytest
from segment.analytics.client import Client
from segment.analytics.request import APIError

from identity.models import Customer
from tracking.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


def test_analytics_python_track_identify_page_alias_group(live_server, tenant):
    client = Client(write_key=tenant.write_key, host=live_server.url, sync_mode=True, gzip=True, max_retries=0)
    client.page(anonymous_id="sdk-anon", name="Pricing", properties={"url": "https://shop.example/pricing"})
    client.identify(
        user_id="sdk-user-1", anonymous_id="sdk-anon", traits={"email": "kim@example.com", "name": "Kim Lee"}
    )
    client.track(user_id="sdk-user-1", event="Order Completed", properties={"revenue": 42.5, "currency": "EUR"})
    client.group(user_id="sdk-user-1", group_id="acme", traits={"name": "Acme"})
    client.alias(previous_id="sdk-anon-2", user_id="sdk-user-1")
    client.screen(user_id="sdk-user-1", name="Home")

    events = list(Event.objects.order_by("id"))
    assert [e.event for e in events] == ["page_view", "identify", "Order Completed", "group", "alias", "screen_view"]
    assert {e.context["library"]["name"] for e in events} == {"analytics-python"}
    assert all(e.message_id for e in events)
    customer = Customer.objects.get(status="live")
    assert {e.customer_id for e in events} == {customer.pk}
    assert (customer.email, customer.name, customer.rung, customer.customer_number) == (
        "kim@example.com",
        "Kim Lee",
        4,
        1,
    )
    order = events[2]
    assert order.context["ladder"] == "account"
    assert order.properties == {"revenue": 42.5, "currency": "EUR"}


def test_analytics_python_with_a_wrong_key_gets_a_401(live_server, tenant):
    client = Client(write_key="wk_wrong", host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as error:
        client.track(user_id="u", event="x")
    assert error.value.status == 401
    assert error.value.code == "unauthorized"
    assert not Event.objects.exists()
