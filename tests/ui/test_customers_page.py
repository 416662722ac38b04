import datetime
import re

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from identity.models import CustomerStatus
from tests.ui.conftest import add_event, add_identifier, make_customer

pytestmark = pytest.mark.django_db


def url(tenant, **params):
    base = reverse("identity:customers", kwargs={"ws": tenant.workspace.slug})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def listed_ids(response) -> list[int]:
    return [int(x) for x in re.findall(r'href="/w/[^/]+/customers/(\d+)/"', response.content.decode())]


def test_empty_workspace_shows_install_snippet_with_write_key(owner_client, tenant):
    response = owner_client.get(url(tenant))
    assert response.status_code == 200
    body = response.content.decode()
    assert "No customers yet" in body
    assert "Install the Clarm snippet" in body
    assert tenant.write_key in body


def test_member_and_owner_see_live_customers_most_recent_first(owner_client, member_client, tenant):
    now = timezone.now()
    old = make_customer(tenant.workspace, name="Old Olga", last_seen=now - datetime.timedelta(days=3))
    new = make_customer(tenant.workspace, name="New Nina", last_seen=now)
    gone = make_customer(tenant.workspace, name="Merged Max", status=CustomerStatus.MERGED, merged_into=new)
    for client in (owner_client, member_client):
        response = client.get(url(tenant))
        assert response.status_code == 200
        assert listed_ids(response) == [new.pk, old.pk]
        assert gone.name not in response.content.decode()


def test_search_by_email_matches_hash_after_normalizing(owner_client, tenant):
    ana = make_customer(tenant.workspace, name="Ana", email="ana@acme.com")
    add_identifier(ana, email="ana@acme.com")
    other = make_customer(tenant.workspace, name="Bob", email="bob@acme.com")
    add_identifier(other, email="bob@acme.com")
    response = owner_client.get(url(tenant, q="  ANA@Acme.com "))
    assert listed_ids(response) == [ana.pk]


def test_search_by_email_does_not_use_the_plain_column(owner_client, tenant):
    # The plain email on the record is for display only: without an identifier there is no match.
    make_customer(tenant.workspace, name="Display only", email="shown@acme.com")
    response = owner_client.get(url(tenant, q="shown@acme.com"))
    assert listed_ids(response) == []
    assert "No customers match" in response.content.decode()


def test_invalid_email_search_says_why(owner_client, tenant):
    make_customer(tenant.workspace)
    response = owner_client.get(url(tenant, q="not@valid"))
    assert response.status_code == 200
    assert "is not a valid email address" in response.content.decode()


def test_search_by_phone_in_national_or_e164_form(owner_client, tenant):
    pat = make_customer(tenant.workspace, name="Pat", phone="+14155550123")
    add_identifier(pat, phone="+14155550123")
    make_customer(tenant.workspace, name="Quinn")
    assert listed_ids(owner_client.get(url(tenant, q="(415) 555-0123"))) == [pat.pk]
    assert listed_ids(owner_client.get(url(tenant, q="%2B14155550123"))) == [pat.pk]


def test_search_by_name_and_company_fragment(owner_client, tenant):
    maria = make_customer(tenant.workspace, name="Maria Lopez")
    acme = make_customer(tenant.workspace, name="Zed", company="Lopez Moving Co")
    make_customer(tenant.workspace, name="Someone Else")
    assert sorted(listed_ids(owner_client.get(url(tenant, q="lopez")))) == sorted([maria.pk, acme.pk])


def test_search_by_customer_number_with_or_without_hash(owner_client, tenant):
    c = make_customer(tenant.workspace, name="Numbered", rung=4, customer_number=12)
    make_customer(tenant.workspace, name="Other", rung=4, customer_number=13)
    assert listed_ids(owner_client.get(url(tenant, q="%2312"))) == [c.pk]
    assert listed_ids(owner_client.get(url(tenant, q="12"))) == [c.pk]


def test_rung_filter(owner_client, tenant):
    r2 = make_customer(tenant.workspace, rung=2)
    make_customer(tenant.workspace, rung=0)
    assert listed_ids(owner_client.get(url(tenant, rung=2))) == [r2.pk]


def test_source_filter_uses_customers_events(owner_client, tenant):
    whatsapp = make_customer(tenant.workspace, name="Talks on WhatsApp")
    add_event(whatsapp, event="message_in", source="channel")
    add_event(whatsapp, event="page_view", source="web")
    web_only = make_customer(tenant.workspace, name="Web only")
    add_event(web_only, event="page_view", source="web")
    assert listed_ids(owner_client.get(url(tenant, source="channel"))) == [whatsapp.pk]
    assert sorted(listed_ids(owner_client.get(url(tenant, source="web")))) == sorted([whatsapp.pk, web_only.pk])


def test_last_seen_filter(owner_client, tenant):
    now = timezone.now()
    today = make_customer(tenant.workspace, last_seen=now - datetime.timedelta(hours=2))
    week = make_customer(tenant.workspace, last_seen=now - datetime.timedelta(days=5))
    month = make_customer(tenant.workspace, last_seen=now - datetime.timedelta(days=20))
    ancient = make_customer(tenant.workspace, last_seen=now - datetime.timedelta(days=90))
    assert listed_ids(owner_client.get(url(tenant, seen="24h"))) == [today.pk]
    assert listed_ids(owner_client.get(url(tenant, seen="7d"))) == [today.pk, week.pk]
    assert listed_ids(owner_client.get(url(tenant, seen="30d"))) == [today.pk, week.pk, month.pk]
    assert listed_ids(owner_client.get(url(tenant, seen="older"))) == [ancient.pk]


@pytest.mark.parametrize(
    ("param", "value", "named"),
    [("rung", "9", "rung"), ("source", "fax", "source"), ("seen", "1y", "seen"), ("after", "garbage!", "after")],
)
def test_bad_filter_values_are_a_400_naming_them(owner_client, tenant, param, value, named):
    make_customer(tenant.workspace)
    response = owner_client.get(url(tenant, **{param: value}))
    assert response.status_code == 400
    assert named in response.content.decode()


def test_keyset_pagination_walks_every_customer_once(owner_client, tenant):
    now = timezone.now()
    made = [make_customer(tenant.workspace, last_seen=now - datetime.timedelta(minutes=i % 7)) for i in range(123)]
    seen: list[int] = []
    next_url: str | None = url(tenant)
    pages = 0
    while next_url:
        response = owner_client.get(next_url)
        assert response.status_code == 200
        seen += listed_ids(response)
        pages += 1
        match = re.search(r'rel="next" href="\?([^"]+)"', response.content.decode())
        next_url = url(tenant) + "?" + match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3
    assert len(seen) == len(set(seen)) == 123
    expected = sorted(made, key=lambda c: (c.last_seen, c.pk), reverse=True)
    assert seen == [c.pk for c in expected]


def test_pagination_keeps_filters(owner_client, tenant):
    for _ in range(55):
        make_customer(tenant.workspace, rung=3)
    make_customer(tenant.workspace, rung=1)
    first = owner_client.get(url(tenant, rung=3))
    match = re.search(r'rel="next" href="\?([^"]+)"', first.content.decode())
    assert match is not None
    assert "rung=3" in match.group(1)
    second = owner_client.get(url(tenant) + "?" + match.group(1).replace("&amp;", "&"))
    assert len(listed_ids(first)) == 50 and len(listed_ids(second)) == 5


def test_ladder_counts_live_customers_per_rung(owner_client, tenant, other_tenant):
    for rung, n in ((0, 4), (1, 1), (2, 3), (4, 2)):
        for _ in range(n):
            make_customer(tenant.workspace, rung=rung)
    make_customer(tenant.workspace, rung=4, status=CustomerStatus.MERGED)
    make_customer(other_tenant.workspace, rung=3)
    response = owner_client.get(url(tenant))
    assert [r["count"] for r in response.context["ladder"]] == [4, 1, 3, 0, 2]
    body = response.content.decode()
    assert "10 live customers" in body
    bars = re.findall(r'data-rung="(\d)">\s*<span class="count">([\d,]+)</span>', body)
    assert bars == [("0", "4"), ("1", "1"), ("2", "3"), ("3", "0"), ("4", "2")]


def test_customers_page_query_count_is_flat(owner_client, tenant, django_assert_max_num_queries):
    def fill(n):
        for i in range(n):
            c = make_customer(tenant.workspace, rung=i % 5, name=f"C{i}")
            add_event(c, source="channel" if i % 2 else "web")

    fill(10)
    cache.clear()  # the ladder counts are cached briefly: measure the uncached cost both times
    with django_assert_max_num_queries(12) as few:
        owner_client.get(url(tenant, source="channel"))
    fill(190)
    cache.clear()
    with django_assert_max_num_queries(12) as many:
        owner_client.get(url(tenant, source="channel"))
    assert len(many.captured_queries) == len(few.captured_queries)
