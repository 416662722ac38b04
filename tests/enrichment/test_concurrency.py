"""Concurrent processors for one person fire high_intent_visitor once; a shared network is asked once."""

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from enrichment.intent import customer_intent_refresh
from enrichment.models import EnrichmentUsage, NetworkAnswer
from enrichment.moments import HighIntentVisitor, high_intent_visitor_subscribe, high_intent_visitor_unsubscribe
from enrichment.networks import NetworkFacts, network_company
from enrichment.services import enrichment_settings_update
from identity.models import Customer
from tests.identity.helpers import run_in_threads
from tracking.models import Event


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_fire_the_moment_once(tenant):
    now = timezone.now()
    customer = Customer.objects.create(workspace=tenant.workspace, rung=4)
    for n in range(8):  # 8 pricing views: 60 (cap) + rung 4: 12 = 72
        Event.objects.create(
            workspace=tenant.workspace,
            customer=customer,
            event="page_view",
            occurred_at=now - datetime.timedelta(seconds=n),
            context={"url": "https://acme.test/pricing"},
        )
    seen: list[HighIntentVisitor] = []
    high_intent_visitor_subscribe(seen.append)
    try:

        def refresh(n: int) -> None:
            customer_intent_refresh(customer_id=customer.pk, config=None)

        errors = run_in_threads(6, refresh)
    finally:
        high_intent_visitor_unsubscribe(seen.append)
    assert errors == []
    assert Customer.objects.get(pk=customer.pk).intent_score == 72
    assert Event.objects.filter(event="high_intent_visitor").count() == 1
    assert len(seen) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_lookups_of_a_new_network_ask_the_provider_once(tenant, provider_server):
    provider_server.respond = lambda seen: (
        200,
        {"company": {"name": "Heise", "domain": "heise.de", "type": "business"}},
    )
    config = enrichment_settings_update(workspace=tenant.workspace, provider="ipinfo", api_key="k")
    facts = NetworkFacts(prefix="193.99.144.0/24", asn="Plus.line AG", network="193.99.144.0/24", country="DE")
    answers = []
    with override_settings(CLARM_IPINFO_API_URL=provider_server.url):
        errors = run_in_threads(
            5, lambda n: answers.append(network_company(workspace_id=tenant.workspace.pk, facts=facts, config=config))
        )
    assert errors == []
    assert len(provider_server.requests) == 1
    assert [a.lookup.company.get("name") for a in answers] == ["Heise"] * 5
    assert NetworkAnswer.objects.count() == 1
    usage = EnrichmentUsage.objects.get(workspace=tenant.workspace)
    assert (usage.lookups, usage.provider_calls) == (5, 1)
