"""Network → company, through the cache: offline classification first (a residential, mobile or
hosting network never costs a provider call nor gives a company), then the provider in force for
the workspace, its answer cached by /24-/48 prefix for 30 days (negative answers too; provider
errors for an hour). Answers bought with the workspace's own key stay in that workspace; answers
bought with the deployment's key are shared by every workspace."""

import datetime
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from enrichment.models import CompanyProvider, EnrichmentSettings, EnrichmentUsage, NetworkAnswer, NetworkClass
from enrichment.providers import CLIENTS, NetworkLookup, ProviderError
from enrichment.providers import offline as offline_provider
from enrichment.providers.base import prefix_address

logger = logging.getLogger(__name__)

ANSWER_TTL = datetime.timedelta(days=30)
NEGATIVE_TTL = datetime.timedelta(days=30)
ERROR_TTL = datetime.timedelta(hours=1)
COMPANY_CLASSES = frozenset((NetworkClass.BUSINESS, NetworkClass.EDUCATION))
# Another worker is asking the provider about the same prefix: wait this long for its answer.
_LOCK_SECONDS = 30
_WAIT_STEPS = 20
_WAIT_STEP_SECONDS = 0.1


@dataclass(frozen=True)
class NetworkFacts:
    """What the edge kept about where an event came from (never the address)."""

    prefix: str
    asn: str | None = None
    network: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class CompanyAnswer:
    lookup: NetworkLookup
    source: str  # the provider that answered ("offline", "ipinfo", "pdl")


@dataclass(frozen=True)
class ProviderChoice:
    provider: str
    api_key: str
    workspace_id: int | None  # None: the deployment's key, shared cache


def provider_choice(*, workspace_id: int, config: EnrichmentSettings | None) -> ProviderChoice | None:
    """The workspace's own provider and key (BYOK) when set, else the deployment's, else None (offline)."""
    if config is not None and config.provider != CompanyProvider.OFFLINE and config.api_key:
        return ProviderChoice(config.provider, config.api_key, workspace_id)
    shared = django_settings.CLARM_ENRICHMENT_PROVIDER
    if shared in CLIENTS and django_settings.CLARM_ENRICHMENT_API_KEY:
        return ProviderChoice(shared, django_settings.CLARM_ENRICHMENT_API_KEY, None)
    return None


def usage_add(workspace_id: int, **counts: int) -> None:
    EnrichmentUsage.objects.get_or_create(workspace_id=workspace_id)
    EnrichmentUsage.objects.filter(workspace_id=workspace_id).update(
        updated_at=timezone.now(), **{name: F(name) + n for name, n in counts.items() if n}
    )


def _cached(choice: ProviderChoice, prefix: str, now: datetime.datetime) -> NetworkAnswer | None:
    shared = choice.workspace_id is None
    scope: dict[str, Any] = {"workspace__isnull": True} if shared else {"workspace_id": choice.workspace_id}
    return (
        NetworkAnswer.objects.filter(**scope, provider=choice.provider, prefix=prefix, expires_at__gt=now)
        .order_by("-fetched_at")
        .first()
    )


def _store(choice: ProviderChoice, prefix: str, lookup: NetworkLookup | None, error: str) -> None:
    now = timezone.now()
    if lookup is not None and lookup.found:
        ttl, why = ANSWER_TTL, ""
    elif lookup is not None:
        ttl, why = NEGATIVE_TTL, "not_found"
    else:
        ttl, why = ERROR_TTL, error[:200]
    values = {
        "found": bool(lookup and lookup.found),
        "network_class": lookup.network_class if lookup else NetworkClass.UNKNOWN,
        "company": dict(lookup.company) if lookup and lookup.found else {},
        "error": why,
        "fetched_at": now,
        "expires_at": now + ttl,
    }
    try:
        with transaction.atomic():
            NetworkAnswer.objects.update_or_create(
                workspace_id=choice.workspace_id, provider=choice.provider, prefix=prefix, defaults=values
            )
    except IntegrityError:  # another worker stored it first: theirs is as good
        pass


def _ask_provider(choice: ProviderChoice, facts: NetworkFacts, workspace_id: int) -> NetworkLookup | None:
    """One provider call (counted), stored in the cache whatever it says; None on a provider error."""
    client = CLIENTS[choice.provider]
    try:
        lookup = client(address=prefix_address(facts.prefix), api_key=choice.api_key)
    except ProviderError as exc:
        logger.warning("enrichment provider %s failed for %s: %s", choice.provider, facts.prefix, exc)
        usage_add(workspace_id, provider_calls=1, provider_errors=1)
        _store(choice, facts.prefix, None, str(exc))
        return None
    usage_add(workspace_id, provider_calls=1)
    _store(choice, facts.prefix, lookup, "")
    return lookup


def _from_row(row: NetworkAnswer) -> NetworkLookup | None:
    if row.error and row.error != "not_found":
        return None  # a recent provider error: the offline answer stands in until it expires
    return NetworkLookup(network_class=row.network_class, company=dict(row.company) if row.found else {})


def _prefer(answer: NetworkLookup | None, provider: str, offline: NetworkLookup) -> CompanyAnswer:
    """The provider's company when it named one; its verdict when it says the network is residential,
    mobile or hosting (no company); else (no match, or an error) the offline answer."""
    if answer is not None and (answer.found or answer.network_class not in (*COMPANY_CLASSES, NetworkClass.UNKNOWN)):
        return CompanyAnswer(answer, provider)
    return CompanyAnswer(offline, CompanyProvider.OFFLINE)


def network_company(
    *, workspace_id: int, facts: NetworkFacts, config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> CompanyAnswer:
    now = now or timezone.now()
    offline = offline_provider.company_lookup(asn=facts.asn, network=facts.network, country=facts.country)
    if offline.network_class not in COMPANY_CLASSES and offline.network_class != NetworkClass.UNKNOWN:
        return CompanyAnswer(offline, CompanyProvider.OFFLINE)  # never a company, never a provider call
    choice = provider_choice(workspace_id=workspace_id, config=config)
    if choice is None:
        return CompanyAnswer(offline, CompanyProvider.OFFLINE)
    row = _cached(choice, facts.prefix, now)
    if row is not None:
        usage_add(workspace_id, lookups=1, cache_hits=1)
        return _prefer(_from_row(row), choice.provider, offline)
    usage_add(workspace_id, lookups=1)
    lock = f"enrich:ask:{choice.workspace_id or 'shared'}:{choice.provider}:{facts.prefix}"
    if cache.add(lock, 1, timeout=_LOCK_SECONDS):
        try:
            lookup = _ask_provider(choice, facts, workspace_id)
        finally:
            cache.delete(lock)
        return _prefer(lookup, choice.provider, offline)
    for _ in range(_WAIT_STEPS):  # another worker is asking about this prefix: use its answer
        time.sleep(_WAIT_STEP_SECONDS)
        row = _cached(choice, facts.prefix, timezone.now())
        if row is not None:
            return _prefer(_from_row(row), choice.provider, offline)
    return CompanyAnswer(offline, CompanyProvider.OFFLINE)
