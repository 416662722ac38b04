"""Network → company, through the cache: offline classification first (a residential, mobile or
hosting network never costs a provider call nor gives a company), then the provider in force for
the workspace, its answer cached by /24-/48 prefix for 30 days (negative answers too; provider
errors for an hour). Answers bought with the workspace's own key stay in that workspace; answers
bought with the deployment's key are shared by every workspace."""

import datetime
import logging
import time
from collections.abc import Iterable
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


def _cached(choice: ProviderChoice, prefixes: list[str], now: datetime.datetime) -> dict[str, NetworkAnswer]:
    """The live cached answers for these prefixes in the choice's scope (one query), newest each."""
    shared = choice.workspace_id is None
    scope: dict[str, Any] = {"workspace__isnull": True} if shared else {"workspace_id": choice.workspace_id}
    rows = NetworkAnswer.objects.filter(
        **scope, provider=choice.provider, prefix__in=prefixes, expires_at__gt=now
    ).order_by("fetched_at")
    return {row.prefix: row for row in rows}  # the newest of a prefix comes last and stays


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


@dataclass(frozen=True)
class PendingAsk:
    """A network the cache does not hold: the provider is to be asked (networks_ask)."""

    choice: ProviderChoice
    facts: NetworkFacts
    offline: NetworkLookup


def networks_known(
    *,
    workspace_id: int,
    facts: Iterable[NetworkFacts],
    config: EnrichmentSettings | None,
    now: datetime.datetime | None = None,
) -> tuple[dict[str, CompanyAnswer], list[PendingAsk]]:
    """What is known of each network (by prefix) without asking a provider: offline classification
    first (residential, mobile and hosting networks end there), then one cache read for every
    prefix that could name a company. Returns the answers and the networks still to ask about.
    Usage is counted once per batch."""
    now = now or timezone.now()
    by_prefix = {f.prefix: f for f in facts}
    out: dict[str, CompanyAnswer] = {}
    offline: dict[str, NetworkLookup] = {}
    for prefix, f in by_prefix.items():
        answer = offline_provider.company_lookup(asn=f.asn, network=f.network, country=f.country)
        if answer.network_class not in COMPANY_CLASSES and answer.network_class != NetworkClass.UNKNOWN:
            out[prefix] = CompanyAnswer(answer, CompanyProvider.OFFLINE)  # never a company, never a provider call
        else:
            offline[prefix] = answer
    choice = provider_choice(workspace_id=workspace_id, config=config) if offline else None
    if choice is None:
        out.update({prefix: CompanyAnswer(answer, CompanyProvider.OFFLINE) for prefix, answer in offline.items()})
        return out, []
    rows = _cached(choice, list(offline), now)
    usage_add(workspace_id, lookups=len(offline), cache_hits=len(rows))
    pending = []
    for prefix, answer in offline.items():
        row = rows.get(prefix)
        if row is not None:
            out[prefix] = _prefer(_from_row(row), choice.provider, answer)
        else:
            pending.append(PendingAsk(choice, by_prefix[prefix], answer))
    return out, pending


def networks_ask(*, workspace_id: int, pending: list[PendingAsk]) -> dict[str, CompanyAnswer]:
    """Ask the provider about each network the cache did not hold: one call per prefix, whatever
    the number of people on it; the answer (or its absence) is cached."""
    return {ask.facts.prefix: _ask_once(ask.choice, ask.facts, workspace_id, ask.offline) for ask in pending}


def networks_company(
    *,
    workspace_id: int,
    facts: Iterable[NetworkFacts],
    config: EnrichmentSettings | None,
    now: datetime.datetime | None = None,
) -> dict[str, CompanyAnswer]:
    """The company of each network (by prefix): networks_known, then networks_ask for the rest."""
    known, pending = networks_known(workspace_id=workspace_id, facts=facts, config=config, now=now)
    return {**known, **networks_ask(workspace_id=workspace_id, pending=pending)}


def network_company(
    *, workspace_id: int, facts: NetworkFacts, config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> CompanyAnswer:
    """One network's company (see networks_company)."""
    return networks_company(workspace_id=workspace_id, facts=[facts], config=config, now=now)[facts.prefix]


def _ask_once(choice: ProviderChoice, facts: NetworkFacts, workspace_id: int, offline: NetworkLookup) -> CompanyAnswer:
    """Ask the provider, unless another worker is asking about this prefix: then wait for its answer."""
    lock = f"enrich:ask:{choice.workspace_id or 'shared'}:{choice.provider}:{facts.prefix}"
    if cache.add(lock, 1, timeout=_LOCK_SECONDS):
        try:
            lookup = _ask_provider(choice, facts, workspace_id)
        finally:
            cache.delete(lock)
        return _prefer(lookup, choice.provider, offline)
    for _ in range(_WAIT_STEPS):
        time.sleep(_WAIT_STEP_SECONDS)
        row = _cached(choice, [facts.prefix], timezone.now()).get(facts.prefix)
        if row is not None:
            return _prefer(_from_row(row), choice.provider, offline)
    return CompanyAnswer(offline, CompanyProvider.OFFLINE)
