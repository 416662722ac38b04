import datetime
import re
import zoneinfo

import pytest
from django.urls import reverse

from identity.models import Customer, CustomerStatus, Identifier, MergeLog
from tests.ui.conftest import add_event, add_events, add_identifier, make_customer
from tracking.models import Event

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 3, 3, 7, 42, tzinfo=datetime.UTC)  # 11:42pm Mar 2 in Los Angeles


def page(tenant, customer, **params):
    base = reverse("identity:customer", kwargs={"ws": tenant.workspace.slug, "pk": customer.pk})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def must(match: re.Match[str] | None) -> str:
    assert match is not None
    return match.group(1)


def ledger_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'<li id="event-(\d+)"', response.content.decode())]


@pytest.fixture
def journey(tenant):
    """The DESIGN worked example, written directly (out of order, to prove the page sorts)."""
    tenant.workspace.timezone = "America/Los_Angeles"
    tenant.workspace.save()
    c = make_customer(
        tenant.workspace, name="Dana Reyes", email="dana@example.com", rung=4, customer_number=1247, first_seen=T0
    )
    add_identifier(c, device="dev-1")
    add_identifier(c, email="dana@example.com")
    add_identifier(c, phone="+14155550123")
    s = datetime.timedelta
    rows = [
        (s(minutes=15), "payment_succeeded", "webhook", 4, {"amount": 50, "currency": "usd", "provider": "stripe"}),
        (s(0), "page_view", "web", 0, {}),
        (s(seconds=12), "page_view", "web", 0, {}),
        (s(minutes=1), "form_submit", "web", 2, {"form": "quote", "email": "dana@example.com"}),
        (s(minutes=9), "message_in", "channel", 3, {"channel": "whatsapp"}),
        (s(minutes=11), "lead_qualified", "agent", 3, {"agent": "qualify"}),
        (s(days=1, minutes=10), "reminder_sent", "agent", 4, {}),
    ]
    urls = {0: "https://acme.test/", 12: "https://acme.test/services"}
    events = {}
    for delta, name, source, rung, props in rows:
        ctx = {"url": urls.get(int(delta.total_seconds()), "https://acme.test/quote")}
        events[delta] = add_event(c, event=name, source=source, at=T0 + delta, rung=rung, properties=props, context=ctx)
    return c, events


def test_ledger_lists_events_oldest_first_with_titles_rungs_and_times(owner_client, member_client, tenant, journey):
    customer, events = journey
    for client in (owner_client, member_client):
        response = client.get(page(tenant, customer))
        assert response.status_code == 200
        ordered = [e.pk for _, e in sorted(events.items())]
        assert ledger_ids(response) == ordered
    body = response.content.decode()
    titles = [t for t in re.findall(r'<span class="title">([^<]+)</span>', body)]
    assert titles == [
        "Views /",
        "Views /services",
        "Submits quote form: email captured",
        "WhatsApp message in",
        "Agent qualified the lead",
        "Stripe payment received: $50.00",
        "Agent sent a reminder",
    ]
    assert re.findall(r'<span class="rel">([^<]+)</span>', body) == [
        "T+0",
        "T+12s",
        "T+1m",
        "T+9m",
        "T+11m",
        "T+15m",
        "T+1d",
    ]
    # Rung changes are milestones on the rows that made them (issue 16), not a line on every row.
    rungs = re.findall(r"Reached rung (\d): (\w+)</div>", body)
    assert rungs == [("2", "email"), ("3", "phone"), ("4", "account")]
    milestone_rows = re.findall(r'<span class="title">([^<]+)</span>(?:(?!</li>).)*Reached rung', body, re.S)
    assert milestone_rows == [
        "Submits quote form: email captured",
        "WhatsApp message in",
        "Stripe payment received: $50.00",
    ]
    assert "Identity: rung" not in body.split('<ol class="ledger"', 1)[1]
    # Times in the workspace's zone (Los Angeles): T+0 is Monday 11:42 PM on March 2nd, not 07:42 UTC.
    assert "Mon Mar 2 · 11:42 PM" in body
    assert "Times in America/Los_Angeles" in body


def test_profile_identifiers_masked_consent_and_channels(owner_client, tenant, journey):
    customer, _ = journey
    customer.allow_marketing_sms = False
    customer.save()
    body = owner_client.get(page(tenant, customer)).content.decode()
    assert "Dana Reyes" in body and "#1,247" in body
    assert "d***@example.com" in body and "+14******23" in body
    assert "+14155550123" not in body.split("Identifiers")[1]  # identifiers section shows only masks
    consent = body.split("Consent &amp; preferences")[1]
    assert re.search(r"Marketing SMS / WhatsApp</span><span class=\"no\">Opted out", consent)
    assert re.search(r"Analytics tracking</span><span class=\"yes\">Allowed", consent)
    channels = must(re.search(r"<dt>Channels</dt><dd>(.*?)</dd>", body, re.S))
    assert re.findall(r"src-(\w+)", channels) == ["web", "channel", "agent", "webhook"]


def test_ladder_marks_reached_rungs_and_events_at_each(owner_client, tenant, journey):
    customer, _ = journey
    customer.rung = 3  # pretend the account rung was not reached, to see an unreached rung
    customer.save()
    response = owner_client.get(page(tenant, customer))
    ladder = {r["rung"]: r for r in response.context["ladder"]}
    assert [r for r in range(5) if ladder[r]["reached"]] == [0, 1, 2, 3]
    assert ladder[2]["via"].title == "Submits quote form: email captured"
    assert ladder[2]["via"].relative == "T+1m"
    assert [e.title for e in ladder[3]["events"]] == ["WhatsApp message in", "Agent qualified the lead"]
    assert "Reached T+9m: WhatsApp message in" in response.content.decode()


def test_source_filter_keeps_relative_times_from_the_first_event(owner_client, tenant, journey):
    customer, _ = journey
    response = owner_client.get(page(tenant, customer, source="agent"))
    body = response.content.decode()
    assert re.findall(r'<span class="title">([^<]+)</span>', body) == [
        "Agent qualified the lead",
        "Agent sent a reminder",
    ]
    assert re.findall(r'<span class="rel">([^<]+)</span>', body) == ["T+11m", "T+1d"]


def test_load_more_continues_in_order_and_relative_to_first(owner_client, tenant):
    customer = make_customer(tenant.workspace)
    made = add_events(customer, 230, start=T0, step=datetime.timedelta(seconds=30))
    first = owner_client.get(page(tenant, customer))
    ids = ledger_ids(first)
    assert len(ids) == 100
    more = must(re.search(r'id="load-more" href="\?after=([^"]+)"', first.content.decode()))
    second = owner_client.get(page(tenant, customer, after=more, fragment=1))
    assert second.status_code == 200
    ids += ledger_ids(second)
    more = must(re.search(r'data-more-url="\?after=([^"]+)"', second.content.decode()))
    third = owner_client.get(page(tenant, customer, after=more, fragment=1))
    ids += ledger_ids(third)
    assert "data-more-url" not in third.content.decode()
    assert ids == [e.pk for e in made]
    assert '<span class="rel">T+1h 54m</span>' in third.content.decode()  # the 230th event: 229 × 30 s after T+0


def test_bad_cursor_and_bad_source_are_400(owner_client, tenant, journey):
    customer, _ = journey
    assert owner_client.get(page(tenant, customer, after="nope")).status_code == 400
    response = owner_client.get(page(tenant, customer, source="fax"))
    assert response.status_code == 400 and "source must be one of" in response.content.decode()


def test_merged_away_customer_redirects_to_survivor(owner_client, tenant, journey):
    survivor, _ = journey
    gone = make_customer(tenant.workspace, status=CustomerStatus.MERGED, merged_into=survivor)
    response = owner_client.get(page(tenant, gone))
    assert response.status_code == 302 and response.url == page(tenant, survivor)


def test_customer_page_query_count_does_not_grow_with_events(owner_client, tenant, django_assert_max_num_queries):
    customer = make_customer(tenant.workspace, rung=4, customer_number=1)
    add_identifier(customer, device="d-1")
    add_events(customer, 10, start=T0)
    with django_assert_max_num_queries(16) as few:
        assert owner_client.get(page(tenant, customer)).status_code == 200
    add_events(customer, 190, start=T0 + datetime.timedelta(hours=1))
    with django_assert_max_num_queries(16) as many:
        assert owner_client.get(page(tenant, customer)).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


# --- merge and split ---------------------------------------------------------------------------------


def test_admin_merges_another_customer_by_number(admin_client, tenant, journey):
    survivor, _ = journey
    other = make_customer(tenant.workspace, name="Dana (other phone)", rung=2)
    add_identifier(other, email="dana.work@example.com")
    moved = add_event(other, event="email_opened", source="email", at=T0 + datetime.timedelta(hours=2))
    other.customer_number = None
    other.save()
    url = reverse("identity:customer_merge", kwargs={"ws": tenant.workspace.slug, "pk": survivor.pk})
    response = admin_client.post(url, {"other": str(other.pk)}, follow=True)
    assert response.status_code == 200
    assert "was merged into" in response.content.decode()
    other.refresh_from_db()
    moved.refresh_from_db()
    assert other.status == CustomerStatus.MERGED and other.merged_into_id == survivor.pk
    assert moved.customer_id == survivor.pk
    assert MergeLog.objects.filter(workspace=tenant.workspace, survivor=survivor, merged=other).exists()


def test_merge_refusal_is_shown_as_a_message(owner_client, tenant):
    a = make_customer(tenant.workspace, rung=4, customer_number=5)
    add_identifier(a, user_id="acct-1")
    b = make_customer(tenant.workspace, rung=4, customer_number=6)
    add_identifier(b, user_id="acct-2")
    url = reverse("identity:customer_merge", kwargs={"ws": tenant.workspace.slug, "pk": a.pk})
    response = owner_client.post(url, {"other": "#6"}, follow=True)
    body = response.content.decode()
    assert "Not merged:" in body and "different account ids" in body
    b.refresh_from_db()
    assert b.status == CustomerStatus.LIVE


def test_merge_with_unknown_reference_says_so(owner_client, tenant, journey):
    survivor, _ = journey
    url = reverse("identity:customer_merge", kwargs={"ws": tenant.workspace.slug, "pk": survivor.pk})
    body = owner_client.post(url, {"other": "#999"}, follow=True).content.decode()
    assert "No customer “#999” in this workspace" in body


def test_member_cannot_merge_or_split(member_client, tenant, journey):
    survivor, _ = journey
    other = make_customer(tenant.workspace)
    device = Identifier.objects.get(customer=survivor, kind="device")
    merge = reverse("identity:customer_merge", kwargs={"ws": tenant.workspace.slug, "pk": survivor.pk})
    split = reverse("identity:customer_split", kwargs={"ws": tenant.workspace.slug, "pk": survivor.pk})
    assert member_client.post(merge, {"other": str(other.pk)}).status_code == 403
    assert member_client.post(split, {"identifier": str(device.pk)}).status_code == 403
    other.refresh_from_db()
    device.refresh_from_db()
    assert other.status == CustomerStatus.LIVE and device.customer_id == survivor.pk
    # ... and the page does not offer the actions.
    body = member_client.get(page(tenant, survivor)).content.decode()
    assert "Merge with…" not in body and "Split device off" not in body


def test_owner_splits_a_device_off_to_a_new_customer(owner_client, tenant):
    customer = make_customer(tenant.workspace, rung=2, email="sam@example.com")
    add_identifier(customer, email="sam@example.com")
    mine = add_identifier(customer, device="laptop")
    shared = add_identifier(customer, device="family-ipad")
    kept = add_event(customer, device_hash=mine.value_hash)
    moved = add_event(customer, device_hash=shared.value_hash)
    body = owner_client.get(page(tenant, customer)).content.decode()
    assert body.count("Split device off") == 2
    url = reverse("identity:customer_split", kwargs={"ws": tenant.workspace.slug, "pk": customer.pk})
    response = owner_client.post(url, {"identifier": str(shared.pk)}, follow=True)
    assert "now belong to a new customer" in response.content.decode()
    shared.refresh_from_db()
    moved.refresh_from_db()
    kept.refresh_from_db()
    assert shared.customer_id != customer.pk
    assert moved.customer_id == shared.customer_id and kept.customer_id == customer.pk
    assert Customer.objects.get(pk=shared.customer_id).workspace == tenant.workspace


def test_split_of_a_non_device_is_refused(owner_client, tenant):
    customer = make_customer(tenant.workspace)
    email = add_identifier(customer, email="x@example.com")
    add_identifier(customer, device="device-xyz")
    url = reverse("identity:customer_split", kwargs={"ws": tenant.workspace.slug, "pk": customer.pk})
    body = owner_client.post(url, {"identifier": str(email.pk)}, follow=True).content.decode()
    assert "That device is not one of this customer" in body
    email.refresh_from_db()
    assert email.customer_id == customer.pk
    assert Event.objects.count() == 0


def test_times_use_workspace_zone():
    assert zoneinfo.ZoneInfo("America/Los_Angeles")  # the zone the fixtures rely on exists
