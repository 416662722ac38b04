"""POST /api/track: what the snippet and any HTTP client get, and what is stored."""

import datetime
import gzip
import json

import pytest
from django.utils import timezone

from identity.models import Customer, Identifier
from tracking.models import Event, Visit
from tracking.writekeys import write_keys_forget
from workspaces.services import api_key_rotate


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_page_view_is_stored_with_every_field(post_track, tenant):
    when = timezone.now() - datetime.timedelta(minutes=3)
    r = post_track(
        {
            "event": "page_view",
            "properties": {"title": "Pricing", "path": "/pricing"},
            "visitor_id": "v-123",
            "session_id": "s-1",
            "timestamp": _iso(when),
            "url": "https://shop.example/pricing",
            "referrer": "https://www.google.com/",
            "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            "message_id": "msg-1",
        }
    )
    assert r.status_code == 202, r.content
    assert r.json() == {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    event = Event.objects.get()
    assert event.workspace == tenant.workspace
    assert event.event == "page_view"
    assert event.source == "web"
    assert abs(event.occurred_at - when) < datetime.timedelta(milliseconds=2)
    assert event.received_at >= event.occurred_at
    assert event.session_id == "s-1"
    assert event.message_id == "msg-1"
    assert event.properties == {"title": "Pricing", "path": "/pricing"}
    assert event.context["url"] == "https://shop.example/pricing"
    assert event.context["referrer"] == "https://www.google.com/"
    assert event.context["ua"] == {"browser": "Safari", "browser_version": "17", "os": "Mac OS X", "device": "Mac"}
    assert event.is_bot is False
    # Stitched: a customer with the device identifier, rung 0 on a first visit.
    device = Identifier.objects.get(kind="device")
    assert event.customer_id == device.customer_id
    assert event.device_hash == device.value_hash
    assert event.rung == 0
    visit = Visit.objects.get()
    assert (visit.device_hash, visit.session_id, visit.event_count) == (device.value_hash, "s-1", 1)


def test_geo_country_and_network_of_a_public_ip(post_track):
    post_track({"event": "page_view", "visitor_id": "v-geo"}, ip="8.8.8.8")
    context = Event.objects.get().context
    assert context["country"] == "US"
    assert context["asn"] == "GOOGLE"
    assert context["network"] == "8.8.8.0/24"
    assert len(context["ip_hash"]) == 64


def test_edge_keeps_the_network_prefix_for_enrichment_never_the_address(post_track):
    post_track({"event": "page_view", "visitor_id": "v-p4"}, ip="193.99.144.80")
    post_track({"event": "page_view", "visitor_id": "v-p6"}, ip="2a00:1450:4001:800::200e")
    v4, v6 = Event.objects.order_by("id")
    assert v4.context["prefix"] == "193.99.144.0/24"
    assert v6.context["prefix"] == "2a00:1450:4001::/48"
    stored = json.dumps([v4.context, v4.properties, v6.context, v6.properties])
    assert "193.99.144.80" not in stored and "200e" not in stored


def test_a_client_cannot_forge_the_prefix(post_track):
    post_track({"event": "page_view", "visitor_id": "v-forge", "context": {"prefix": "1.2.3.0/24"}}, ip="10.0.0.1")
    assert "prefix" not in Event.objects.get().context


def test_private_ip_has_no_country(post_track):
    post_track({"event": "page_view", "visitor_id": "v-lan"}, ip="10.1.2.3")
    context = Event.objects.get().context
    assert "country" not in context and "asn" not in context
    assert len(context["ip_hash"]) == 64


def test_forwarded_for_is_read_only_behind_trusted_proxies(post_track, settings):
    post_track({"event": "page_view", "visitor_id": "v-x1"}, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="81.2.69.142")
    assert "country" not in Event.objects.get().context  # not trusted: REMOTE_ADDR (private) is used
    Event.objects.all().delete()
    settings.CLARM_TRUSTED_PROXY_COUNT = 1
    post_track({"event": "page_view", "visitor_id": "v-x1"}, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 81.2.69.142")
    assert Event.objects.get().context["country"] == "GB"


def test_the_ip_address_is_never_stored_anywhere(post_track, client, tenant, django_capture_on_commit_callbacks):
    from django.apps import apps
    from django.core import serializers

    post_track(
        {
            "batch": [
                {"event": "page_view", "visitor_id": "v-ip"},
                {"event": "identify", "visitor_id": "v-ip", "properties": {"email": "ip@example.com"}},
            ]
        },
        ip="81.2.69.142",
    )
    segment_body = {
        "userId": "u-ip",
        "event": "Signed Up",
        "context": {"ip": "1.1.1.1", "page": {"url": "https://shop.example/"}},
        "messageId": "seg-ip",
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/v1/track",
            data=json.dumps(segment_body),
            content_type="application/json",
            HTTP_AUTHORIZATION=_basic(tenant.write_key),
            REMOTE_ADDR="8.8.4.4",
        )
    assert r.status_code == 200, r.content
    assert Event.objects.count() == 3
    dumped = ""
    for app in ("tracking", "identity", "workspaces"):
        for model in apps.get_app_config(app).get_models():
            dumped += serializers.serialize("json", model._default_manager.all())
    for ip in ("81.2.69.142", "1.1.1.1", "8.8.4.4"):
        assert ip not in dumped
    assert Event.objects.get(message_id="seg-ip").context["country"] == "AU"  # from the Segment context.ip


def _basic(key: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_batch_keeps_good_events_and_names_bad_ones(post_track):
    r = post_track(
        {
            "batch": [
                {"event": "page_view", "visitor_id": "v-b", "message_id": "b-1"},
                {"properties": {"x": 1}},
                {"event": "click", "properties": "not an object"},
                "not an event",
                {"event": "page_view", "timestamp": "yesterday"},
                {"event": "page_view", "source": "carrier-pigeon"},
                {"event": "click", "visitor_id": "v-b", "message_id": "b-2"},
            ],
        }
    )
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "error": "event is required"},
        {"index": 2, "error": "properties must be an object"},
        {"index": 3, "error": "event must be an object"},
        {"index": 4, "error": "timestamp is not a valid ISO 8601 timestamp: 'yesterday'"},
        {
            "index": 5,
            "error": "source must be one of web, email, channel, agent, webhook, pixel, ad (got 'carrier-pigeon')",
        },
    ]
    assert set(Event.objects.values_list("message_id", flat=True)) == {"b-1", "b-2"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"properties": {}}, "event is required"),
        ({"event": "x", "properties": []}, "properties must be an object"),
        ({"event": "x", "visitor_id": {"a": 1}}, "visitor_id must be a string"),
        ({"event": "x", "context": "c"}, "context must be an object"),
        ({"event": 5}, "event must be a string"),
        ({"event": "x", "sent_at": "nope"}, "sent_at is not a valid ISO 8601 timestamp: 'nope'"),
        ({"event": "x", "message_id": "m" * 129}, "message_id is longer than 128 characters"),
    ],
)
def test_a_single_bad_event_is_a_400_naming_the_field(post_track, body, error):
    r = post_track(body)
    assert r.status_code == 400
    assert r.json()["error"] == error
    assert not Event.objects.exists()


def test_malformed_json_and_wrong_shapes_are_400(post_track):
    r = post_track('{"event": "page_view",')
    assert r.status_code == 400
    assert r.json()["error"] == "Malformed JSON."
    assert "line 1" in r.json()["details"]
    assert post_track("[1, 2]").json()["error"].startswith("The body must be a JSON object")
    assert post_track({"batch": {"event": "x"}}).json() == {
        "error": "batch must be an array",
        "details": {"field": "batch"},
    }
    assert post_track("").status_code == 400
    assert not Event.objects.exists()


def test_key_in_body_or_query_and_text_plain_for_send_beacon(post_track, client, tenant):
    r = post_track({"event": "page_view", "key": tenant.write_key, "visitor_id": "v-k"}, key=False)
    assert r.status_code == 202
    r = client.post(
        f"/api/track?key={tenant.write_key}",
        data=json.dumps({"batch": [{"event": "page_leave", "visitor_id": "v-k"}], "sent_at": _iso(timezone.now())}),
        content_type="text/plain",
        REMOTE_ADDR="8.8.8.8",
    )
    assert r.status_code == 202, r.content
    assert r.json()["accepted"] == 1
    assert Event.objects.count() == 2


def test_gzip_body(post_track):
    raw = gzip.compress(
        json.dumps({"batch": [{"event": "page_view", "visitor_id": f"v-{i}"} for i in range(3)]}).encode()
    )
    r = post_track(raw, HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 202, r.content
    assert r.json()["accepted"] == 3
    bad = post_track(b"not gzip at all", HTTP_CONTENT_ENCODING="gzip")
    assert bad.status_code == 400
    assert bad.json()["error"] == "The body is not valid gzip data."


def test_missing_unknown_and_revoked_keys_are_401(post_track, tenant):
    r = post_track({"event": "page_view"}, key=False)
    assert r.status_code == 401
    assert r.json()["error"].startswith("Missing write key")
    r = post_track({"event": "page_view"}, key="wk_not_a_real_key")
    assert (r.status_code, r.json()["error"]) == (401, "Unknown or revoked write key.")
    api_key_rotate(workspace=tenant.workspace, kind="write", actor=None)  # revokes the old one
    r = post_track({"event": "page_view"})
    assert (r.status_code, r.json()["error"]) == (401, "Unknown or revoked write key.")
    assert not Event.objects.exists()


def test_body_over_500_kb_and_over_500_events_are_413(post_track):
    big = json.dumps({"event": "x", "properties": {"blob": "a" * (510 * 1024)}})
    r = post_track(big)
    assert r.status_code == 413
    assert r.json()["error"] == "The request body is larger than 500 KB."
    r = post_track({"batch": [{"event": "x"}] * 501})
    assert r.status_code == 413
    assert r.json()["error"] == "Too many events: at most 500 per request."
    bomb = gzip.compress(b'{"event": "x", "properties": {"a": "' + b"a" * (600 * 1024) + b'"}}')
    assert post_track(bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 413
    assert not Event.objects.exists()


def test_an_event_over_32_kb_is_rejected_alone(post_track):
    huge = {"event": "x", "properties": {"blob": "a" * (33 * 1024)}}
    r = post_track({"batch": [huge, {"event": "page_view", "visitor_id": "v-s"}]})
    assert r.status_code == 202
    assert r.json()["accepted"] == 1
    assert r.json()["rejected"] == [{"index": 0, "error": "event is larger than 32 KB"}]
    r = post_track(huge)
    assert (r.status_code, r.json()["error"]) == (413, "event is larger than 32 KB")


def test_rate_limit_per_key_and_ip_is_429_with_retry_after(post_track, settings, ratelimit_clock):
    settings.CLARM_RATE_LIMIT_PER_MINUTE = 2
    ratelimit_clock["now"] = 1_800_000_030.0
    assert post_track({"event": "a", "visitor_id": "v-r"}).status_code == 202
    assert post_track({"event": "b", "visitor_id": "v-r"}).status_code == 202
    r = post_track({"event": "c", "visitor_id": "v-r"})
    assert r.status_code == 429
    assert r["Retry-After"] == "31"
    assert r.json()["details"] == {"retry_after": 31}
    # Another client IP has its own budget.
    assert post_track({"event": "d", "visitor_id": "v-r2"}, ip="8.8.4.4").status_code == 202
    assert sorted(Event.objects.values_list("event", flat=True)) == ["a", "b", "d"]


def test_region_of_another_deployment_is_refused_and_nothing_stored(post_track, settings, tenant):
    settings.CLARM_REGION = "us"
    r = post_track({"event": "page_view", "visitor_id": "v-eu"})
    assert r.status_code == 403
    assert r.json()["error"] == "This workspace's data lives in region eu; send to that region's endpoint."
    assert not Event.objects.exists()
    assert not Identifier.objects.exists()
    assert not Visit.objects.exists()


def test_cors_preflight_and_allowed_origins(post_track, client, tenant):
    r = client.options(
        f"/api/track?key={tenant.write_key}",
        HTTP_ORIGIN="https://anything.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-clarm-key",
    )
    assert r.status_code == 204
    assert r["Access-Control-Allow-Origin"] == "https://anything.example"
    assert r["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert r["Access-Control-Allow-Headers"].startswith("Content-Type, X-Clarm-Key, Content-Encoding")
    ok = post_track({"event": "page_view"}, HTTP_ORIGIN="https://anything.example")
    assert ok["Access-Control-Allow-Origin"] == "https://anything.example"

    tenant.workspace.allowed_origins = ["https://shop.example"]
    tenant.workspace.save()
    write_keys_forget()  # workspace settings are cached with the key for up to a minute per process
    r = client.options(
        f"/api/track?key={tenant.write_key}",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert r.status_code == 403
    assert "Access-Control-Allow-Origin" not in r
    before = Event.objects.count()
    r = post_track({"event": "page_view"}, HTTP_ORIGIN="https://evil.example")
    assert r.status_code == 403
    assert r.json()["error"] == "Origin https://evil.example is not allowed to send events to this workspace."
    assert "Access-Control-Allow-Origin" not in r
    assert Event.objects.count() == before
    r = post_track({"event": "page_view"}, HTTP_ORIGIN="https://shop.example")
    assert r.status_code == 202
    assert r["Access-Control-Allow-Origin"] == "https://shop.example"
    assert r["Vary"] == "Origin"


def test_duplicates_are_accepted_once(post_track):
    body = {"event": "page_view", "visitor_id": "v-d", "message_id": "dup-1"}
    assert post_track(body).json()["accepted"] == 1
    r = post_track({"batch": [body, {**body, "message_id": "dup-2"}, {**body, "message_id": "dup-2"}]})
    assert r.json() == {"accepted": 1, "duplicates": 2, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert set(Event.objects.values_list("message_id", flat=True)) == {"dup-1", "dup-2"}
    assert Visit.objects.get().event_count == 2


def test_clock_skew_is_corrected_from_sent_at(post_track):
    now = timezone.now()
    device_now = now + datetime.timedelta(hours=1)  # the device's clock is an hour fast
    r = post_track(
        {
            "batch": [
                {"event": "click", "visitor_id": "v-c", "timestamp": _iso(device_now - datetime.timedelta(minutes=5))}
            ],
            "sent_at": _iso(device_now),
        }
    )
    assert r.status_code == 202
    event = Event.objects.get()
    assert abs(event.occurred_at - (now - datetime.timedelta(minutes=5))) < datetime.timedelta(seconds=5)
    assert event.context["clock"]["skew_seconds"] == pytest.approx(-3600, abs=5)


def test_future_timestamps_are_clamped_to_the_receive_time(post_track):
    r = post_track(
        {"event": "click", "visitor_id": "v-f", "timestamp": _iso(timezone.now() + datetime.timedelta(days=2))}
    )
    assert r.status_code == 202
    event = Event.objects.get()
    assert event.occurred_at == event.received_at
    assert event.context["clock"]["clamped"] == "in the future; set to the receive time"
    # A few minutes ahead is a normal clock difference: kept.
    soon = timezone.now() + datetime.timedelta(minutes=2)
    post_track({"event": "click", "visitor_id": "v-f", "timestamp": _iso(soon)})
    assert abs(Event.objects.latest("id").occurred_at - soon) < datetime.timedelta(milliseconds=2)


def test_bots_are_stored_but_not_stitched_or_counted(post_track):
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    r = post_track(
        {
            "event": "page_view",
            "visitor_id": "v-bot",
            "properties": {"email": "bot@example.com"},
            "user_agent": googlebot,
        },
    )
    assert r.status_code == 202 and r.json()["bots"] == 1
    event = Event.objects.get()
    assert event.is_bot is True
    assert event.customer is None
    assert event.context["ua"]["bot"] is True
    assert not Customer.objects.exists()
    assert not Identifier.objects.exists()
    assert not Visit.objects.exists()


def test_sessions_are_30_minutes_of_inactivity_without_a_session_id(post_track):
    start = timezone.now() - datetime.timedelta(hours=3)

    def at(minutes):
        return {
            "event": "page_view",
            "visitor_id": "v-s30",
            "timestamp": _iso(start + datetime.timedelta(minutes=minutes)),
        }

    post_track(at(0))
    post_track(at(10))
    post_track(at(39))  # 29 minutes after the last event: same visit
    post_track(at(70))  # 31 minutes later: a new visit
    visits = list(Visit.objects.order_by("started_at"))
    assert [v.event_count for v in visits] == [3, 1]
    assert visits[0].last_event_at == start + datetime.timedelta(minutes=39)
    sessions = list(Event.objects.order_by("occurred_at").values_list("session_id", flat=True))
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]
    # Rung 1 (visitor) from the second visit on; the device's visit count is known to identity.
    assert list(Event.objects.order_by("occurred_at").values_list("rung", flat=True)) == [0, 0, 0, 1]
    assert Identifier.objects.get(kind="device").visit_count == 2


def test_the_snippet_session_id_decides_the_visit(post_track):
    post_track({"event": "page_view", "visitor_id": "v-sid", "session_id": "one"})
    post_track({"event": "click", "visitor_id": "v-sid", "session_id": "one"})
    post_track({"event": "page_view", "visitor_id": "v-sid", "session_id": "two"})
    assert sorted(Visit.objects.values_list("session_id", "event_count")) == [("one", 2), ("two", 1)]


def test_visits_without_cache_fall_back_to_the_database(post_track):
    from django.core.cache import cache

    post_track({"event": "page_view", "visitor_id": "v-nc", "session_id": "one"})
    cache.clear()
    post_track({"event": "click", "visitor_id": "v-nc", "session_id": "one"})
    post_track({"event": "page_view", "visitor_id": "v-nc", "session_id": "two"})
    cache.clear()
    post_track({"event": "page_view", "visitor_id": "v-nc", "session_id": "three"})
    assert sorted(Visit.objects.values_list("session_id", "event_count")) == [("one", 2), ("three", 1), ("two", 1)]
    assert Identifier.objects.get(kind="device").visit_count == 3


def test_attribution_and_ad_source_on_the_first_event_of_a_visit(post_track):
    post_track(
        {
            "event": "page_view",
            "visitor_id": "v-ad",
            "session_id": "s-ad",
            "url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=abc123",
        }
    )
    post_track(
        {"event": "click", "visitor_id": "v-ad", "session_id": "s-ad", "url": "https://shop.example/?gclid=abc123"}
    )
    first, second = Event.objects.order_by("id")
    assert first.source == "ad"
    assert first.context["attribution"] == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "gclid": "abc123",
    }
    assert second.source == "web"
    assert "attribution" not in second.context
    assert Visit.objects.get().landing == first.context["attribution"]


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("utm_medium=paid_social&utm_source=meta", "ad"),
        ("msclkid=1", "ad"),
        ("utm_medium=email&utm_source=newsletter", "web"),
        ("fbclid=organic-share", "web"),
    ],
)
def test_paid_landings_are_ads(post_track, query, source):
    post_track({"event": "page_view", "visitor_id": "v-p", "url": f"https://shop.example/?{query}"})
    assert Event.objects.get().source == source


def test_a_named_source_is_kept(post_track):
    r = post_track(
        {"event": "lead_qualified", "source": "agent", "email": "jane@example.com", "url": "https://x/?gclid=1"}
    )
    assert r.status_code == 202
    event = Event.objects.get()
    assert event.source == "agent"
    assert event.rung == 2


def test_identify_with_email_masks_the_address_and_lifts_the_rung(post_track):
    post_track({"event": "page_view", "visitor_id": "v-id"})
    post_track(
        {
            "event": "identify",
            "visitor_id": "v-id",
            "properties": {"email": " Jane@Example.com ", "phone": "12", "name": "Jane Smith", "plan": "pro"},
        }
    )
    page, identify = Event.objects.order_by("id")
    assert identify.rung == 2
    assert identify.customer_id == page.customer_id
    assert identify.properties["email"] == "j***@example.com"
    assert identify.properties["name"] == "Jane Smith"
    assert identify.context["notes"] == {"phone": "not a valid phone number (read with default country US)"}
    customer = Customer.objects.get()
    assert (customer.email, customer.name, customer.rung) == ("jane@example.com", "Jane Smith", 2)


def test_purchase_is_an_account_signal(post_track):
    post_track({"event": "purchase", "visitor_id": "v-buy", "properties": {"amount": 299, "currency": "USD"}})
    event = Event.objects.get()
    assert event.context["ladder"] == "account"
    assert event.rung == 4
    assert Customer.objects.get().customer_number == 1


def test_opted_out_people_are_suppressed_on_every_source_but_their_consent_choices_are_kept(post_track):
    post_track({"event": "page_view", "visitor_id": "v-out"})
    Customer.objects.update(allow_analytics=False)
    # The edge appends (it looks no one up); the stitcher refuses the event: nothing is stored.
    r = post_track({"event": "page_view", "visitor_id": "v-out", "message_id": "sup-1"})
    assert r.json() == {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert not Event.objects.filter(message_id="sup-1").exists()
    # The analytics opt-out holds whatever source a write-key caller names.
    post_track({"event": "quote_sent", "source": "agent", "visitor_id": "v-out", "message_id": "sup-2"})
    assert not Event.objects.filter(message_id="sup-2").exists()
    # The choice itself is always recorded.
    r = post_track({"event": "consent_withdrawn", "visitor_id": "v-out", "properties": {"choice": "denied"}})
    assert r.json()["accepted"] == 1


def test_a_write_key_of_workspace_b_writes_only_into_b(post_track, tenant, other_tenant):
    post_track({"event": "page_view", "visitor_id": "shared-device", "message_id": "same-id"})
    before = list(Event.objects.filter(workspace=tenant.workspace).values_list("id", "customer_id", "properties"))
    r = post_track(
        {"event": "page_view", "visitor_id": "shared-device", "message_id": "same-id", "properties": {"b": 1}},
        key=other_tenant.write_key,
    )
    assert r.json()["accepted"] == 1  # a message id is unique per workspace, not across them
    b_event = Event.objects.get(workspace=other_tenant.workspace)
    assert b_event.customer_id is not None
    assert Customer.objects.filter(workspace=other_tenant.workspace, pk=b_event.customer_id).exists()
    assert (
        list(Event.objects.filter(workspace=tenant.workspace).values_list("id", "customer_id", "properties")) == before
    )
    # Naming workspace A in a body sent with B's key is refused, and nothing is stored.
    r = post_track({"event": "page_view", "workspace": tenant.workspace.slug}, key=other_tenant.write_key)
    assert r.status_code == 403
    assert r.json()["error"] == "This write key belongs to another workspace than the one the body names."
    assert Event.objects.count() == 2


def test_last_used_at_is_written_at_most_once_a_minute(post_track, tenant):
    from workspaces.models import ApiKey

    key = ApiKey.objects.get(lookup=tenant.write_key)
    assert key.last_used_at is None
    post_track({"event": "page_view"})
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    post_track({"event": "page_view"})
    key.refresh_from_db()
    assert key.last_used_at == first


def test_wrong_method(client):
    r = client.get("/api/track")
    assert r.status_code == 405
    assert r.json()["error"] == "Use POST."
