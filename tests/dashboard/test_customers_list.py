"""The customers list: first touch, channels, events and revenue from the rollups; sorts; filters
kept in the URL; the CSV export of the filtered list with the formula guard."""

import csv
import io
import re

import pytest
from django.urls import reverse

from tests.dashboard.test_dashboard import story
from tests.ui.conftest import client_for, make_customer

pytestmark = pytest.mark.django_db


def url(workspace, query=""):
    name = "identity:customers"
    if "format=csv" in query:
        name, query = "identity:customers_csv", query.replace("&format=csv", "").replace("format=csv", "")
    return reverse(name, kwargs={"ws": workspace.slug}) + (f"?{query}" if query else "")


def listed_names(response) -> list[str]:
    return re.findall(r'href="/w/[^/]+/customers/\d+/">([^<]+)</a>', response.content.decode())


def csv_rows(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def shop(tenant, django_capture_on_commit_callbacks):
    story(tenant.workspace, django_capture_on_commit_callbacks)
    return tenant.workspace


def test_rows_say_first_touch_channels_events_and_revenue(shop):
    body = client_for(shop).get(url(shop)).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    # Ana: first touch Ad (campaign spring), channels Web, Ad and Stripe, 3 events, $50.00 paid.
    assert "Customer #1 ana@ex.com Ad spring Web Ad Stripe 3 $50.00 4 · account" in text
    assert ">web<" not in body and ">webhook<" not in body  # no raw sources in the rows


def test_sort_by_revenue_puts_the_payer_first_and_keeps_filters(shop):
    response = client_for(shop).get(url(shop, "rung=2&sort=revenue"))
    assert response.status_code == 200
    rows = csv_rows(client_for(shop).get(url(shop, "sort=revenue&format=csv")))
    assert rows[0]["revenue"] == "$50.00"
    assert rows[0]["first_touch"] == "Ad" and rows[0]["first_campaign"] == "spring"
    body = response.content.decode()
    # Sort links keep the filter; the CSV link keeps filter and sort.
    assert 'href="?rung=2&amp;sort=events"' in body
    assert "customers.csv?rung=2&amp;sort=revenue" in body


def test_channel_filter_and_csv_of_the_filtered_list(shop):
    client = client_for(shop)
    stripe_only = csv_rows(client.get(url(shop, "channel=stripe&format=csv")))
    assert [r["revenue"] for r in stripe_only] == ["$50.00"]
    everyone = csv_rows(client.get(url(shop, "format=csv")))
    assert len(everyone) == 3
    assert {r["first_touch"] for r in everyone} == {"Ad", "Web"}


def test_csv_cells_cannot_run_as_formulas(tenant):
    make_customer(tenant.workspace, name='=HYPERLINK("http://evil.test","x")', company="+cmd|' /C calc'!A0")
    response = client_for(tenant.workspace).get(url(tenant.workspace, "format=csv"))
    assert response["Content-Type"].startswith("text/csv")
    row = csv_rows(response)[0]
    assert row["name"].startswith("'=")
    assert row["company"].startswith("'+")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=price", "sort must be one of last_seen, revenue"),
        ("sort=revenue&page=0", "page must be a number from 1 to 200"),
        ("channel=fax", "channel must be one of web, ad, email"),
    ],
)
def test_bad_list_parameters_are_a_clear_400(tenant, query, message):
    response = client_for(tenant.workspace).get(url(tenant.workspace, query))
    assert response.status_code == 400
    assert message in response.content.decode()


def test_other_workspace_cannot_export(shop, other_tenant):
    response = client_for(other_tenant.workspace).get(url(shop, "format=csv"))
    assert response.status_code == 404
    assert csv_rows(client_for(other_tenant.workspace).get(url(other_tenant.workspace, "format=csv"))) == []
