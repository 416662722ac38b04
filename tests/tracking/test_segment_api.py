"""Segment's HTTP Tracking API (/v1/...): payloads shaped as in Segment's public docs and as
analytics.js / RudderStack send them."""

import datetime
import json

from django.utils import timezone

from identity.models import Customer, Identifier
from tracking.models import Event


def test_track(post_segment):
    r = post_segment(
        "track",
        {
            "userId": "019mr8mf4r",
            "event": "Item Purchased",
            "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
            "context": {"ip": "24.5.68.47", "library": {"name": "analytics-ruby", "version": "2.2.10"}},
            "integrations": {"All": True, "Mixpanel": False},
            "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
            "timestamp": "2012-12-02T00:30:12.984Z",
        },
    )
    assert r.status_code == 200, r.content
    assert r.json() == {
        "success": True,
        "accepted": 1,
        "duplicates": 0,
        "suppressed": 0,
        "bots": 0,
        "rejected": [],
        "warnings": [],
    }
    event = Event.objects.get()
    assert event.event == "Item Purchased"
    assert event.properties == {"name": "Leap to Conclusions Mat", "revenue": 14.99}
    assert event.message_id == "022bb90c-bbac-11e4-8dfc-aa07a5b093db"
    assert event.occurred_at == datetime.datetime(2012, 12, 2, 0, 30, 12, 984000, tzinfo=datetime.UTC)
    assert event.context["library"] == {"name": "analytics-ruby", "version": "2.2.10"}
    assert event.context["country"] == "US"
    assert "ip" not in event.context
    assert "integrations" not in event.context
    # A userId is an account: rung 4 and a customer number.
    assert event.rung == 4
    assert Identifier.objects.get().kind == "user_id"


def test_identify_with_traits(post_segment):
    r = post_segment(
        "identify",
        {
            "userId": "019mr8mf4r",
            "anonymousId": "507f191e810c19729de860ea",
            "traits": {"email": "pgibbons@example.com", "name": "Peter Gibbons", "industry": "Technology"},
            "context": {"ip": "24.5.68.47"},
            "timestamp": "2012-12-02T00:30:08.276Z",
        },
    )
    assert r.status_code == 200
    event = Event.objects.get()
    assert event.event == "identify"
    customer = Customer.objects.get()
    assert (customer.email, customer.name, customer.traits.get("industry")) == (
        "pgibbons@example.com",
        "Peter Gibbons",
        "Technology",
    )
    assert sorted(Identifier.objects.values_list("kind", flat=True)) == ["device", "email", "user_id"]
    assert event.customer == customer


def test_page_and_screen(post_segment):
    post_segment(
        "page",
        {
            "anonymousId": "a-page",
            "name": "Tracking HTTP API",
            "properties": {"url": "https://segment.com/docs/", "path": "/docs/", "title": "Docs"},
            "timestamp": "2012-12-02T00:31:29.738Z",
        },
    )
    post_segment("screen", {"anonymousId": "a-page", "name": "Home", "properties": {"variation": "blue"}})
    page, screen = Event.objects.order_by("id")
    assert page.event == "page_view"
    assert page.properties["name"] == "Tracking HTTP API"
    assert page.context["url"] == "https://segment.com/docs/"
    assert screen.event == "screen_view"
    assert screen.properties == {"variation": "blue", "name": "Home"}
    assert page.customer_id == screen.customer_id


def test_group(post_segment):
    r = post_segment(
        "group",
        {"userId": "019mr8mf4r", "groupId": "8e9df332ac", "traits": {"name": "Initech", "employees": 420}},
    )
    assert r.status_code == 200
    event = Event.objects.get()
    assert event.event == "group"
    assert event.properties == {"group_id": "8e9df332ac", "group_traits": {"name": "Initech", "employees": 420}}
    assert Customer.objects.get().name == ""  # the group's name is not the person's


def test_alias_links_the_previous_id_and_the_user_id(post_segment):
    post_segment("page", {"anonymousId": "39239-239239-239239-23923", "name": "Pricing"})
    post_segment("track", {"userId": "019mr8mf4r", "event": "Logged In"})
    assert Customer.objects.count() == 2
    r = post_segment("alias", {"previousId": "39239-239239-239239-23923", "userId": "019mr8mf4r"})
    assert r.status_code == 200
    live = Customer.objects.filter(status="live")
    assert live.count() == 1
    assert {e.customer_id for e in Event.objects.all()} == {live.get().pk}


def test_batch_with_shared_context_and_a_bad_message(post_segment):
    sent = timezone.now()
    r = post_segment(
        "batch",
        {
            "batch": [
                {
                    "type": "identify",
                    "userId": "019mr8mf4r",
                    "traits": {"email": "jake@example.com", "name": "Jake Peterson", "age": 26},
                    "timestamp": "2012-12-02T00:30:08.276Z",
                    "messageId": "b-1",
                },
                {
                    "type": "track",
                    "userId": "019mr8mf4r",
                    "event": "Song Played",
                    "properties": {"name": "Fallin for You", "artist": "Dierks Bentley"},
                    "timestamp": "2012-12-02T00:30:12.984Z",
                    "messageId": "b-2",
                },
                {"type": "teleport", "userId": "x", "messageId": "b-3"},
                {"type": "track", "userId": "019mr8mf4r", "messageId": "b-4"},
            ],
            "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}},
            "sentAt": sent.isoformat(),
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 2, "error": "type must be one of track, identify, page, screen, group, alias"},
        {"index": 3, "error": "event is required"},
    ]
    for event in Event.objects.all():
        assert event.context["device"] == {"type": "phone", "name": "Apple iPhone 6"}
    identify = Event.objects.get(message_id="b-1")
    assert identify.properties == {}
    assert Customer.objects.get().email == "jake@example.com"


def test_analytics_js_browser_call_with_write_key_in_the_body(client, tenant, django_capture_on_commit_callbacks):
    """analytics.js posts text/plain to /v1/t, /v1/p ... with `writeKey` in the body (no header)."""
    now = timezone.now().isoformat()
    body = {
        "timestamp": now,
        "integrations": {},
        "anonymousId": "c8c4e3b5-5d8a-4f43-9f25-8f7d0a6e1b2c",
        "type": "page",
        "properties": {"path": "/", "title": "Shop", "url": "https://shop.example/?utm_source=google&utm_medium=cpc"},
        "context": {
            "page": {
                "path": "/",
                "referrer": "https://www.google.com/",
                "title": "Shop",
                "url": "https://shop.example/?utm_source=google&utm_medium=cpc",
            },
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "locale": "en-US",
            "library": {"name": "analytics.js", "version": "next-1.55.0"},
            "campaign": {"source": "google", "medium": "cpc", "name": "spring"},
        },
        "messageId": "ajs-next-1700000000000-abc",
        "writeKey": tenant.write_key,
        "userId": None,
        "sentAt": now,
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/v1/p",
            data=json.dumps(body),
            content_type="text/plain",
            REMOTE_ADDR="8.8.8.8",
            HTTP_ORIGIN="https://shop.example",
        )
    assert r.status_code == 200, r.content
    assert r["Access-Control-Allow-Origin"] == "https://shop.example"
    event = Event.objects.get()
    assert event.event == "page_view"
    assert event.source == "ad"
    assert event.context["attribution"] == {"utm_campaign": "spring", "utm_source": "google", "utm_medium": "cpc"}
    assert event.context["ua"]["browser"] == "Chrome"
    assert event.context["referrer"] == "https://www.google.com/"
    assert "userAgent" not in event.context


def test_rudderstack_session_id_is_the_visit(post_segment):
    for n in range(2):
        post_segment("track", {"anonymousId": "rs-anon", "event": f"e{n}", "context": {"sessionId": 1700000000123}})
    assert set(Event.objects.values_list("session_id", flat=True)) == {"1700000000123"}


def test_errors_follow_the_segment_shape(post_segment, tenant, settings):
    r = post_segment("track", {"userId": "u", "event": "x"}, auth=False)
    assert r.status_code == 401
    body = r.json()
    assert body["success"] is False
    assert body["code"] == "unauthorized"
    assert body["message"] == body["error"]
    r = post_segment("track", {"userId": "u", "event": "x"}, key="wk_wrong")
    assert r.status_code == 401
    r = post_segment("track", {"event": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "userId or anonymousId is required")
    r = post_segment("track", {"userId": "u", "event": "x", "properties": [1]})
    assert (r.status_code, r.json()["error"]) == (400, "properties must be an object")
    r = post_segment("alias", {"userId": "u"})
    assert r.json()["error"] == "previousId is required"
    assert post_segment("teleport", {"userId": "u"}).status_code == 404
    settings.CLARM_REGION = "us"
    r = post_segment("track", {"userId": "u", "event": "x"})
    assert r.status_code == 403
    assert r.json()["error"] == "This workspace's data lives in region eu; send to that region's endpoint."
    assert not Event.objects.exists()


def test_segment_key_of_workspace_b_lands_in_b(post_segment, tenant, other_tenant):
    post_segment("track", {"userId": "u-1", "event": "A thing", "messageId": "iso"})
    post_segment("track", {"userId": "u-1", "event": "B thing", "messageId": "iso"}, key=other_tenant.write_key)
    assert Event.objects.get(workspace=tenant.workspace).event == "A thing"
    assert Event.objects.get(workspace=other_tenant.workspace).event == "B thing"
    assert Customer.objects.filter(workspace=tenant.workspace).count() == 1
    assert Customer.objects.filter(workspace=other_tenant.workspace).count() == 1
