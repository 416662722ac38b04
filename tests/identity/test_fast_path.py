"""The hot path: a page view from a known device costs one indexed query, and a write only when
something changed."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from identity.models import Customer, Identifier
from identity.normalize import claims_from_values
from identity.stitching import LAST_SEEN_SLACK, LadderSignals, event_identity_resolve
from tests.identity.helpers import ingest

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _resolve(ws, when, signals=None, **values):
    claims = claims_from_values(ws, **values)
    return event_identity_resolve(
        workspace=ws, claims=claims, signals=signals or LadderSignals(device_visit_count=1), traits={}, occurred_at=when
    )


def _statements(captured) -> list[str]:
    """The captured statements as 'SELECT identity_identifier', 'UPDATE identity_customer', ..."""
    out = []
    for query in captured.captured_queries:
        sql = query["sql"]
        verb = sql.split()[0].upper()
        table = "identity_identifier" if 'FROM "identity_identifier"' in sql else sql.split()[1].strip('"')
        out.append(f"{verb} {table}")
    return out


@pytest.mark.postgres_only(reason="asserts PostgreSQL's FOR NO KEY UPDATE … SKIP LOCKED statement")
def test_known_device_page_view_is_one_query(tenant, django_assert_max_num_queries):
    ws = tenant.workspace
    first, _ = ingest(ws, at=T, device="dev-hot", signals=LadderSignals(device_visit_count=1))
    with transaction.atomic(), django_assert_max_num_queries(1) as captured:
        res = _resolve(ws, T + timedelta(seconds=30), device="dev-hot")
    assert _statements(captured) == ["SELECT identity_identifier"]
    sql = captured.captured_queries[0]["sql"]
    assert 'INNER JOIN "identity_customer"' in sql
    assert sql.endswith('FOR NO KEY UPDATE OF "identity_customer" SKIP LOCKED')
    assert res.customer_id == first.customer_id and not res.created and res.rung == 0
    # last_seen is written only when it is more than LAST_SEEN_SLACK behind.
    assert Customer.objects.get(pk=first.customer_id).last_seen == T
    later = T + LAST_SEEN_SLACK + timedelta(seconds=1)
    with transaction.atomic(), django_assert_max_num_queries(2) as captured:
        _resolve(ws, later, device="dev-hot")
    assert _statements(captured) == ["SELECT identity_identifier", "UPDATE identity_customer"]
    assert Customer.objects.get(pk=first.customer_id).last_seen == later


def test_second_visit_lifts_to_rung_one_with_two_writes_at_most(tenant, django_assert_max_num_queries):
    ws = tenant.workspace
    first, _ = ingest(ws, at=T, device="dev-hot", signals=LadderSignals(device_visit_count=1))
    with transaction.atomic(), django_assert_max_num_queries(3) as captured:
        res = _resolve(ws, T + timedelta(hours=1), signals=LadderSignals(device_visit_count=2), device="dev-hot")
    assert _statements(captured) == [
        "SELECT identity_identifier",
        "UPDATE identity_customer",
        "UPDATE identity_identifier",
    ]
    assert res.rung == 1
    customer = Customer.objects.get(pk=first.customer_id)
    assert customer.rung == 1 and customer.last_seen == T + timedelta(hours=1)
    assert Identifier.objects.get(customer=customer).visit_count == 2
    # The rest of that visit is back to one query, and the rung stays.
    with transaction.atomic(), django_assert_max_num_queries(1) as captured:
        res = _resolve(
            ws, T + timedelta(hours=1, seconds=5), signals=LadderSignals(device_visit_count=2), device="dev-hot"
        )
    assert _statements(captured) == ["SELECT identity_identifier"]
    assert res.rung == 1


def test_event_without_identifiers_costs_nothing(tenant, django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(0):
        res = _resolve(tenant.workspace, T, device="undefined")
    assert res.customer_id is None and res.rung == 0 and not res.suppressed
