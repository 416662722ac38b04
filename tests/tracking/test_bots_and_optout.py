"""Issue 10: a bot verdict never silently drops a person; opt-out and consent hold on every path
(the full path, the known-device lane, the Segment API and the provider webhooks' door)."""

import json
import time

import pytest

from identity.models import ConsentChoice, ConsentRecord, ConsentSource, Customer, Identifier, MergeLog
from identity.privacy import tasks as privacy_tasks
from identity.privacy.services import preferences_update
from identity.stitching.stitcher import stitch_run
from integrations.events import event_record
from tracking.botevents import bot_events_of
from tracking.models import DedupeKey, Event, PendingEvent
from tracking.normalize import claims_from_values
from tracking.purposes import Consent, Purpose, purpose_refused
from workspaces.models import Workspace

URLLIB = "Python-urllib/3.11"
CHATBOT = "AcmeChatbot/2.3"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/141.0.0.0 Safari/537.36"
)
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"


def _customer_of(ws: Workspace, email: str) -> Customer:
    """The customer who owns this email (Identifier.DoesNotExist when no one does)."""
    (claim,) = claims_from_values(ws, email=email).claims
    return Identifier.objects.get(workspace=ws, kind="email", value_hash=claim.value_hash).customer


def _opt_out(ws: Workspace, customer: Customer, **changes: bool) -> None:
    preferences_update(
        workspace=ws, customer=customer, changes=changes or {"analytics": False}, source=ConsentSource.PREFERENCES
    )


# --- A bot verdict never silently drops a person --------------------------------------------------


def test_a_server_calling_api_track_through_urllib_is_stitched(post_track, tenant):
    r = post_track(
        {"event": "identify", "visitor_id": "srv-1", "properties": {"email": "ana@example.com", "name": "Ana"}},
        HTTP_USER_AGENT=URLLIB,
    )
    assert r.status_code == 202
    assert r.json() == {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    event = Event.objects.get(workspace=tenant.workspace)
    assert event.is_bot is False and event.customer is not None
    assert event.customer.email == "ana@example.com" and event.customer.name == "Ana"


def test_a_server_side_segment_sdk_through_urllib_is_stitched(post_segment, tenant):
    r = post_segment(
        "identify",
        {"userId": "u-77", "traits": {"email": "bo@example.com"}, "messageId": "seg-1"},
        HTTP_USER_AGENT=URLLIB,
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1 and r.json()["bots"] == 0
    assert _customer_of(tenant.workspace, "bo@example.com").rung == 4


def test_a_chatbot_servers_agent_events_are_never_bot_filtered(post_track, tenant):
    # The transport user agent of the chatbot's server, and the same name as the event's own.
    r1 = post_track(
        {"event": "lead_qualified", "source": "agent", "email": "cy@example.com", "message_id": "a1"},
        HTTP_USER_AGENT=CHATBOT,
    )
    r2 = post_track(
        {"event": "quote_sent", "source": "agent", "email": "cy@example.com", "message_id": "a2", "user_agent": CHATBOT}
    )
    assert r1.json()["bots"] == 0 and r2.json()["bots"] == 0
    customer = _customer_of(tenant.workspace, "cy@example.com")
    assert set(Event.objects.filter(customer=customer).values_list("message_id", "is_bot")) == {
        ("a1", False),
        ("a2", False),
    }


@pytest.mark.parametrize("source", ["agent", "webhook", "channel", "email"])
def test_server_sources_are_never_bot_filtered_whatever_user_agent_they_carry(post_track, tenant, source):
    r = post_track({"event": "noted", "source": source, "email": "di@example.com", "user_agent": GOOGLEBOT})
    assert r.json()["accepted"] == 1 and r.json()["bots"] == 0
    assert Event.objects.get(workspace=tenant.workspace).customer == _customer_of(tenant.workspace, "di@example.com")


def test_the_browser_user_agent_an_event_carries_decides_and_headless_browsers_are_bots(post_track, post_segment):
    # A real browser's request (transport says Chrome), but the event says headless: a bot.
    r = post_track(
        {"batch": [{"event": "page_view", "visitor_id": "h-1", "user_agent": HEADLESS, "message_id": "h1"}]},
        HTTP_USER_AGENT=CHROME,
    )
    assert r.json() == {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 1, "rejected": [], "warnings": []}
    s = post_segment("page", {"anonymousId": "h-2", "context": {"userAgent": HEADLESS}, "messageId": "h2"})
    assert s.json()["bots"] == 1
    flagged = Event.objects.filter(message_id__in=["h1", "h2"])
    assert [(e.is_bot, e.customer_id) for e in flagged] == [(True, None), (True, None)]
    assert not Customer.objects.exists()


def test_bot_events_keep_no_plain_email_or_phone_and_erasure_finds_them_by_the_persons_identifiers(post_track, tenant):
    ws = tenant.workspace
    body = {
        "event": "identify",
        "visitor_id": "bot-dev",
        "user_agent": GOOGLEBOT,
        "properties": {"email": "Eve@Example.com", "phone": "+44 7911 123456", "plan": "pro"},
        "context": {"traits": {"email": "eve@example.com"}},
    }
    assert post_track(body).json()["bots"] == 1
    event = Event.objects.get(workspace=ws)
    stored = json.dumps([event.properties, event.context]).lower()
    assert "eve@example.com" not in stored and "7911123456" not in stored.replace(" ", "")
    assert event.properties["plan"] == "pro" and event.properties["email"].endswith("@example.com")
    assert event.customer is None and not Customer.objects.exists() and not Identifier.objects.exists()

    def pairs(**values: str) -> list[tuple[str, str]]:
        found = claims_from_values(
            ws, email=values.get("email"), phone=values.get("phone"), device=values.get("device")
        )
        return [(c.kind, c.value_hash) for c in found.claims]

    assert list(bot_events_of(workspace_id=ws.pk, identifiers=pairs(email="eve@example.com"))) == [event]
    assert list(bot_events_of(workspace_id=ws.pk, identifiers=pairs(phone="+447911123456"))) == [event]
    assert list(bot_events_of(workspace_id=ws.pk, identifiers=pairs(device="bot-dev"))) == [event]
    assert list(bot_events_of(workspace_id=ws.pk, identifiers=pairs(email="someone@example.com"))) == []


@pytest.mark.parametrize("source", ["web", "agent", "webhook", "email", "channel", "pixel", "ad"])
def test_an_opted_out_persons_write_key_events_are_refused_whatever_source_they_name(post_track, tenant, source):
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-o", "properties": {"email": "hal@example.com"}})
    _opt_out(ws, _customer_of(ws, "hal@example.com"))
    before = Event.objects.count()
    by_email = post_track({"event": "quote_sent", "source": source, "email": "hal@example.com", "message_id": "o1"})
    by_device = post_track({"event": "quote_sent", "source": source, "visitor_id": "dev-o", "message_id": "o2"})
    # The edge appends them (it looks no one up); the stitcher refuses them: nothing is stored.
    for r in (by_email, by_device):
        assert r.json() == {"accepted": 1, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert Event.objects.count() == before


def test_a_suppressed_identify_changes_nothing_on_the_persons_record(post_track, tenant):
    ws = tenant.workspace
    post_track(
        {
            "event": "identify",
            "visitor_id": "dev-j",
            "properties": {"email": "jo@example.com", "name": "Jo", "company": "Acme", "plan": "free"},
        }
    )
    post_track({"event": "identify", "visitor_id": "dev-k", "properties": {"email": "kim@example.com"}})
    jo = _customer_of(ws, "jo@example.com")
    _opt_out(ws, jo)

    def snapshot() -> list:
        return [
            list(Customer.objects.order_by("pk").values()),
            list(Identifier.objects.order_by("pk").values()),
            list(Event.objects.order_by("pk").values_list("pk", flat=True)),
            MergeLog.objects.count(),
        ]

    before = snapshot()
    r = post_track(
        {
            "batch": [
                # new traits and a new email on the opted-out device
                {
                    "event": "identify",
                    "visitor_id": "dev-j",
                    "properties": {"email": "jo.new@example.com", "name": "Mallory", "company": "Evil", "plan": "pro"},
                },
                # the opted-out person's email with another person's device: no merge either
                {"event": "identify", "visitor_id": "dev-k", "email": "jo@example.com", "traits": {"name": "Kim"}},
                # a Segment-like user id and purchase: no rung, no number
                {"event": "purchase", "email": "jo@example.com", "user_id": "acct-9", "properties": {"amount": 5}},
            ]
        }
    )
    assert r.json() == {"accepted": 3, "duplicates": 0, "suppressed": 0, "bots": 0, "rejected": [], "warnings": []}
    assert snapshot() == before  # the stitcher refused all three
    jo.refresh_from_db()
    assert (jo.name, jo.company, jo.traits.get("plan"), jo.rung, jo.customer_number) == ("Jo", "Acme", "free", 2, None)
    # ...except the consent record itself
    r = post_track({"event": "consent_given", "visitor_id": "dev-j", "properties": {"choice": "granted"}})
    assert r.json()["accepted"] == 1
    consent = Event.objects.get(workspace=ws, event="consent_given")
    assert consent.customer == jo
    assert ConsentRecord.objects.get(workspace=ws, source_event_id=consent.pk).choice == ConsentChoice.GRANTED
    jo.refresh_from_db()
    assert jo.allow_analytics is False  # a grant records the choice, it lifts no opt-out


def test_provider_webhooks_follow_the_preference_per_purpose(tenant):
    ws = tenant.workspace
    event_record(
        workspace=ws, event="identify", source="webhook", provider="generic", message_id="g:0", email="liv@example.com"
    )
    liv = _customer_of(ws, "liv@example.com")
    _opt_out(ws, liv)

    def record(provider: str, event: str, source: str, **kw) -> Event | None:
        return event_record(
            workspace=ws,
            event=event,
            source=source,
            provider=provider,
            message_id=f"{provider}:{event}",
            email="liv@example.com",
            **kw,
        )

    # Transactional records are kept: a payment, a booking, a message she sent, a delivery receipt.
    assert record("stripe", "payment_succeeded", "webhook", account_signal=True) is not None
    assert record("calendly", "booking_created", "webhook", account_signal=True) is not None
    assert record("sendgrid", "email_delivered", "email") is not None
    # The consent choice itself is kept (and applied).
    assert record("sendgrid", "email_unsubscribed", "email") is not None
    # Marketing engagement and analytics are refused.
    assert record("sendgrid", "email_opened", "email") is None
    assert record("sendgrid", "email_clicked", "email") is None
    assert record("pixel", "email_opened", "pixel") is None
    assert record("generic", "deal_viewed", "webhook") is None
    # A generic webhook's payment is a transactional record too.
    assert record("generic", "invoice_paid", "webhook", account_signal=True) is not None
    kept = set(Event.objects.filter(customer=liv).values_list("message_id", flat=True))
    assert kept == {
        "clarm:g:0",
        "clarm:stripe:payment_succeeded",
        "clarm:calendly:booking_created",
        "clarm:sendgrid:email_delivered",
        "clarm:sendgrid:email_unsubscribed",
        "clarm:generic:invoice_paid",
    }


def test_marketing_engagement_follows_that_channels_marketing_preference(tenant):
    ws = tenant.workspace
    event_record(
        workspace=ws, event="identify", source="webhook", provider="generic", message_id="g:1", email="mo@x.io"
    )
    _opt_out(ws, _customer_of(ws, "mo@x.io"), marketing_email=False)  # analytics still allowed
    opened = event_record(
        workspace=ws, event="email_opened", source="email", provider="sendgrid", message_id="sg:1", email="mo@x.io"
    )
    seen = event_record(
        workspace=ws, event="page_seen", source="webhook", provider="generic", message_id="g:2", email="mo@x.io"
    )
    assert opened is None and seen is not None


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_gpc_and_dnt_on_api_track_are_an_opt_out_for_the_event(post_track, tenant, header):
    r = post_track(
        {"batch": [{"event": "identify", "visitor_id": "dev-g", "properties": {"email": "nia@example.com"}}]},
        **{header: "1"},
    )
    assert r.json() == {"accepted": 0, "duplicates": 0, "suppressed": 1, "bots": 0, "rejected": [], "warnings": []}
    assert not Event.objects.exists() and not Customer.objects.exists() and not Identifier.objects.exists()
    # the visitor's own opt-out is still recorded
    assert post_track({"event": "opted_out", "visitor_id": "dev-g"}, **{header: "1"}).json()["accepted"] == 1


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_segment_sdk_in_a_gpc_or_dnt_browser_is_not_tracked(post_segment, header):
    r = post_segment(
        "identify", {"anonymousId": "anon-9", "traits": {"email": "oz@example.com"}, "messageId": "s9"}, **{header: "1"}
    )
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["suppressed"] == 1
    assert not Event.objects.exists() and not Customer.objects.exists()


def test_the_snippets_opt_out_is_honoured_within_a_second(post_track, tenant):
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-q", "properties": {"email": "quin@example.com"}})
    started = time.monotonic()
    r = post_track({"event": "opted_out", "visitor_id": "dev-q", "properties": {"via": "api"}, "message_id": "q1"})
    assert r.json()["accepted"] == 1
    page = post_track({"event": "page_view", "visitor_id": "dev-q", "message_id": "q2"})
    agent = post_track({"event": "noted", "source": "agent", "email": "quin@example.com", "message_id": "q3"})
    elapsed = time.monotonic() - started
    assert page.json()["accepted"] == 1 and agent.json()["accepted"] == 1
    assert elapsed < 1.0
    assert not Event.objects.filter(message_id__in=["q2", "q3"]).exists()  # refused by the stitcher
    quin = _customer_of(ws, "quin@example.com")
    assert quin.allow_analytics is False and quin.allow_ad_sendback is False
    # the event's own record (then one per purpose it turned off)
    record = ConsentRecord.objects.get(workspace=ws, source_event_id=Event.objects.get(message_id="q1").pk)
    assert record.choice == ConsentChoice.WITHDRAWN and record.customer == quin
    assert record.source == ConsentSource.API  # ClarmTrack('optout') is the site's call, not the banner


def test_an_opt_out_holds_for_the_events_after_it_in_the_same_batch(post_track, tenant):
    """A batch [identify, opted_out, page_view, noted by email] keeps the identify and the opt-out;
    what comes after the opt-out for the same person (by device, or by an identifier an earlier event
    of the batch tied to that device) is refused, not stored."""
    ws = tenant.workspace
    r = post_track(
        {
            "batch": [
                {"event": "identify", "visitor_id": "dev-bo", "email": "bo@example.com", "message_id": "b1"},
                {"event": "opted_out", "visitor_id": "dev-bo", "message_id": "b2"},
                {"event": "page_view", "visitor_id": "dev-bo", "message_id": "b3"},
                {"event": "noted", "source": "agent", "email": "bo@example.com", "message_id": "b4"},
                {"event": "page_view", "visitor_id": "dev-other", "message_id": "b5"},
            ]
        }
    )
    assert r.json()["accepted"] == 3 and r.json()["suppressed"] == 2
    assert set(Event.objects.values_list("message_id", flat=True)) == {"b1", "b2", "b5"}
    assert _customer_of(ws, "bo@example.com").allow_analytics is False


@pytest.fixture
def deferred(settings):
    """As a deployment runs: the edge only appends; a stitcher pass (`stitch_run`) stores later."""
    settings.CLARM_STITCH_INLINE = False


def test_an_opt_out_holds_for_the_persons_next_events_stitched_in_the_same_batch(post_track, tenant, deferred):
    """The snippet's opt-out, then at once (before any stitcher pass) the person's next events by
    another of their identifiers: one stitch batch takes them all, and everything after the opt-out
    is refused (a trait change included), whatever identifier or source it carries."""
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-s", "email": "sam@example.com", "traits": {"name": "Sam"}})
    stitch_run(once=True)
    sam = _customer_of(ws, "sam@example.com")
    post_track({"event": "opted_out", "visitor_id": "dev-s", "message_id": "s1"})
    post_track({"event": "noted", "source": "agent", "email": "sam@example.com", "message_id": "s2"})
    post_track({"event": "identify", "email": "sam@example.com", "traits": {"name": "Mallory"}, "message_id": "s3"})
    post_track({"event": "page_view", "visitor_id": "dev-s", "message_id": "s4"})
    assert PendingEvent.objects.count() == 4
    stitch_run(once=True)
    assert set(Event.objects.filter(message_id__in=["s1", "s2", "s3", "s4"]).values_list("message_id", flat=True)) == {
        "s1"
    }
    sam.refresh_from_db()
    assert (sam.allow_analytics, sam.name) == (False, "Sam")


def test_an_opt_out_is_in_force_when_its_batch_commits(
    post_track, tenant, deferred, django_capture_on_commit_callbacks
):
    """Applied in the stitch batch's own transaction, not after it: another stitcher taking the
    partition right after the commit already refuses the person's next event."""
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-u", "email": "uma@example.com"})
    stitch_run(once=True)
    post_track({"event": "opted_out", "visitor_id": "dev-u", "message_id": "u1"})
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        stitch_run(once=True)
    assert after_commit  # the post-stitch hook's work, not run here
    uma = _customer_of(ws, "uma@example.com")
    assert uma.allow_analytics is False and uma.allow_ad_sendback is False
    assert ConsentRecord.objects.filter(workspace=ws, source_event_id=Event.objects.get(message_id="u1").pk).exists()


def test_a_refused_event_leaves_nothing_stored_not_even_its_message_id(post_track, tenant):
    """The stitcher refuses an opted-out person's event: its dedupe key (the caller's message id,
    which may be anything) goes with it."""
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-v", "email": "vic@example.com", "message_id": "v-0"})
    _opt_out(ws, _customer_of(ws, "vic@example.com"))
    r = post_track({"event": "noted", "email": "vic@example.com", "message_id": "vic@example.com-quote-7"})
    assert r.json()["accepted"] == 1
    assert not Event.objects.filter(message_id="vic@example.com-quote-7").exists()
    assert list(DedupeKey.objects.filter(workspace=ws).values_list("key", flat=True)) == ["v-0"]


def test_an_opt_out_event_is_in_force_when_it_is_answered_whatever_the_queue(post_track, tenant, monkeypatch):
    # No worker runs the queue here: what the request does not do itself is not done.
    queued: list[int] = []
    monkeypatch.setattr(
        privacy_tasks.consent_record_from_event, "apply_async", lambda args, **options: queued.append(args[0])
    )
    ws = tenant.workspace
    post_track({"event": "identify", "visitor_id": "dev-r", "properties": {"email": "ria@example.com"}})
    post_track({"event": "consent_given", "visitor_id": "dev-r", "message_id": "r1"})
    post_track({"event": "opted_out", "visitor_id": "dev-r", "message_id": "r2"})
    assert _customer_of(ws, "ria@example.com").allow_analytics is False
    assert queued == [Event.objects.get(message_id="r1").pk]  # a grant is only recorded: by the task
    post_track({"event": "page_view", "visitor_id": "dev-r", "message_id": "r3"})
    assert not Event.objects.filter(message_id="r3").exists()


def test_the_banners_privacy_choices_link_without_a_visitor_id_opens_a_page(client, tenant):
    r = client.get(f"/privacy/preferences?key={tenant.write_key}")
    assert r.status_code == 200
    assert "Acme Movers" in r.content.decode()
    assert "nothing" in r.content.decode().lower()


def test_the_purpose_rule_keeps_records_and_refuses_the_rest_by_default():
    off = Consent(analytics=False)
    mail_off = Consent(marketing_email=False)
    sms_off = Consent(marketing_sms=False)
    assert not purpose_refused(Purpose.TRANSACTIONAL, Consent(False, False, False))
    assert not purpose_refused(Purpose.CONSENT, Consent(False, False, False))
    assert purpose_refused(Purpose.ANALYTICS, off) and not purpose_refused(Purpose.ANALYTICS, mail_off)
    assert purpose_refused(Purpose.MARKETING_EMAIL, off) and purpose_refused(Purpose.MARKETING_EMAIL, mail_off)
    assert not purpose_refused(Purpose.MARKETING_EMAIL, sms_off) and purpose_refused(Purpose.MARKETING_SMS, sms_off)
    assert purpose_refused("something-new", off)  # an unknown purpose is treated as analytics
    assert Consent(marketing_sms=False).restrict(off) == Consent(analytics=False, marketing_sms=False)
