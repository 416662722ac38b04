"""Enrichment and intent: the processor the post-stitch hook runs (`events_enrich_and_score`), and
the writes it makes on the customer (company, person fields; the intent score and the
high_intent_visitor moment are enrichment.intent). See docs/enrichment.md."""

import datetime
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from clarm.rowsinsert import fields_update
from enrichment.intent import customers_intent_refresh, people_intent_score, people_locked
from enrichment.models import CompanyProvider, EnrichmentSettings
from enrichment.networks import CompanyAnswer, NetworkFacts, networks_ask, networks_known, usage_add
from enrichment.providers import ProviderError, pdl
from enrichment.scoring import BadWeights, enterprise_score, page_weights_validate
from enrichment.stamps import stamp, stamp_parse
from identity.models import Customer, CustomerStatus
from tracking.models import Event, Source
from workspaces.models import Workspace
from workspaces.services import audit_log_record

logger = logging.getLogger(__name__)

# Only what a visitor does on the business's own site counts (and only once they are counted under
# the workspace's consent mode: events before consent carry no device, so have no customer).
ENRICHED_SOURCES = (Source.WEB, Source.AD, Source.PIXEL)
COMPANY_REFRESH = datetime.timedelta(days=30)
PERSON_REFRESH = datetime.timedelta(days=90)
PERSON_RETRY = datetime.timedelta(hours=1)  # after a provider error
# The regions where person enrichment is off until the workspace switches it on.
PERSON_OPT_IN_REGIONS = frozenset(("eu", "uk"))


def settings_get(*, workspace_id: int) -> EnrichmentSettings | None:
    return EnrichmentSettings.objects.filter(workspace_id=workspace_id).first()


def person_enrichment_on(*, workspace: Workspace, config: EnrichmentSettings | None) -> bool:
    if config is None or not config.person_api_key:
        return False
    if config.person_enrichment is not None:
        return config.person_enrichment
    return workspace.region not in PERSON_OPT_IN_REGIONS


def _facts(context: dict[str, Any]) -> NetworkFacts | None:
    prefix = context.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        return None
    return NetworkFacts(
        prefix=prefix, asn=context.get("asn"), network=context.get("network"), country=context.get("country")
    )


def _company_due(customer: Customer, facts: NetworkFacts, now: datetime.datetime) -> bool:
    """Not when this network was looked up for the person within 30 days."""
    checked = (customer.company_profile or {}).get("network") or {}
    checked_at = stamp_parse(checked.get("checked_at"))
    return not (checked.get("prefix") == facts.prefix and checked_at and now - checked_at < COMPANY_REFRESH)


def _company_profile(
    held: dict[str, Any], network: NetworkFacts, answer: CompanyAnswer, now: datetime.datetime
) -> dict[str, Any]:
    """The company a network names (or that it names none: a residential, mobile or hosting network)."""
    profile: dict[str, Any] = {
        "network": {"prefix": network.prefix, "class": answer.lookup.network_class, "checked_at": stamp(now)}
    }
    if answer.lookup.found:
        company = dict(answer.lookup.company)
        profile.update(company)
        profile["enterprise_score"] = enterprise_score(company)
        profile["source"] = answer.source
        profile["updated_at"] = stamp(now)
    elif held.get("name"):
        # Seen from a home or mobile network after the office: the company already found stays
        # (and this network is remembered as checked, so it is not looked up at every event).
        profile = {**held, "network": profile["network"]}
    return profile


def _companies_apply(
    due: dict[int, tuple[Customer, NetworkFacts]], answers: dict[str, CompanyAnswer], now: datetime.datetime
) -> tuple[list[Customer], list[int]]:
    """Set the company profile (in memory) of each due person whose network has an answer. Returns
    those people, and the ids of those whose enterprise score changed."""
    applied, changed = [], []
    for customer, network in due.values():
        answer = answers.get(network.prefix)
        if answer is None:
            continue
        held = customer.company_profile or {}
        customer.company_profile = _company_profile(held, network, answer, now)
        applied.append(customer)
        if customer.company_profile.get("enterprise_score") != held.get("enterprise_score"):
            changed.append(customer.pk)
    return applied, changed


def customer_person_refresh(*, customer: Customer, config: EnrichmentSettings, now: datetime.datetime) -> bool:
    """Name, title and LinkedIn from the email the person gave (PDL, the workspace's key). Never
    from an IP. Kept for 90 days, then asked again. True when the provider was asked (the
    person_profile on `customer` is then the one to store)."""
    held = customer.person_profile or {}
    asked_at = stamp_parse(held.get("checked_at"))
    failed_at = stamp_parse(held.get("failed_at"))
    if not customer.email or (asked_at and now - asked_at < PERSON_REFRESH):
        return False
    if failed_at and now - failed_at < PERSON_RETRY:
        return False
    try:
        found = pdl.person_lookup(email=customer.email, api_key=config.person_api_key)
    except ProviderError as exc:
        logger.warning("person enrichment failed for customer %s: %s", customer.pk, exc)
        usage_add(customer.workspace_id, person_calls=1, provider_errors=1)
        customer.person_profile = {**held, "failed_at": stamp(now)}
        return True
    usage_add(customer.workspace_id, person_calls=1)
    profile: dict[str, Any] = {"checked_at": stamp(now)}
    if found:
        profile.update(found, source=CompanyProvider.PDL, updated_at=stamp(now))
    customer.person_profile = profile
    return True


def _gpc(context: dict[str, Any]) -> bool:
    return bool(context.get("gpc") or context.get("dnt"))


def events_enrich_and_score(
    *, workspace_id: int, event_ids: list[int], busy: Callable[[list[int]], None] | None = None
) -> int:
    """THE enrichment processor (idempotent), one pass per batch of events: for the customers of
    these committed events (one query for the people, row-locked), apply the company of their
    networks where no provider call is needed (offline classification, one cache read), recompute
    their intent scores (one query for their signals, summed in the database; one batch of
    updates), then, after commit, ask the provider about the networks the cache did not hold (one
    call per prefix) and person fields from their email (BYOK, where allowed), and rescore those
    whose company profile changed. Returns how many customers were scored.

    Only events from the site (web, ad, pixel), not bots, of people counted under the workspace's
    consent mode (an event before consent has no customer), who have not opted out of analytics,
    and not sent with GPC/DNT.

    `busy`: people another transaction holds (a concurrent drain, a stitch batch) are not waited for:
    their events are handed to `busy(event_ids)` to be processed again later (the drains pass their
    queue here, so two drains sharing people no longer run one after the other)."""
    rows = list(
        Event.objects.filter(
            workspace_id=workspace_id,
            pk__in=event_ids,
            customer__isnull=False,
            is_bot=False,
            source__in=ENRICHED_SOURCES,
        )
        .order_by("occurred_at", "id")
        .values_list("pk", "customer_id", "context")
    )
    if not rows:
        return 0
    latest: dict[int, dict[str, Any]] = {}
    refused: set[int] = set()
    for _, customer_id, context in rows:
        context = context if isinstance(context, dict) else {}
        if _gpc(context):
            refused.add(customer_id)
        latest[customer_id] = context
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:  # deleted since
        return 0
    config = settings_get(workspace_id=workspace_id)
    now = timezone.now()
    # One pass, with the people row-locked: their networks that need no provider (offline, cached)
    # are applied first, then scores (no provider on the way: current as soon as the batch is
    # read). Provider calls come after commit, outside the locks; those people are rescored.
    with transaction.atomic():
        wanted = Customer.objects.filter(
            workspace_id=workspace_id, pk__in=[c for c in latest if c not in refused], allow_analytics=True
        )
        people = people_locked(wanted, skip_locked=busy is not None)
        if busy is not None:
            _busy_hand_back(wanted, people, rows, busy)
        due = {c.pk: (c, f) for c in people if (f := _facts(latest[c.pk])) is not None and _company_due(c, f, now)}
        known, pending = (
            networks_known(workspace_id=workspace_id, facts=[f for _, f in due.values()], config=config, now=now)
            if due
            else ({}, [])
        )
        applied, _ = _companies_apply(due, known, now)
        scored = len(people_intent_score(people, config=config, now=now))
        fields_update(applied, ("company_profile",))
    changed: list[int] = []
    if pending:
        answers = networks_ask(workspace_id=workspace_id, pending=pending)
        applied, changed = _companies_apply(due, answers, now)
        fields_update(applied, ("company_profile",))
    if config is not None and person_enrichment_on(workspace=workspace, config=config):
        asked = [c for c in people if customer_person_refresh(customer=c, config=config, now=now)]
        fields_update(asked, ("person_profile",))
    if changed:
        customers_intent_refresh(customer_ids=changed, config=config)
    return scored


def _busy_hand_back(
    wanted: Any, people: list[Customer], rows: list[tuple[int, int, Any]], busy: Callable[[list[int]], None]
) -> None:
    """The events of the people SKIP LOCKED left out who are still there to score (not merged,
    erased or opted out meanwhile), handed back."""
    skipped = {c for _, c, _ in rows} - {person.pk for person in people}
    if not skipped:
        return
    held = set(wanted.filter(pk__in=skipped, status=CustomerStatus.LIVE).values_list("pk", flat=True))
    if held:
        busy([event_id for event_id, customer_id, _ in rows if customer_id in held])


def enrichment_settings_update(
    *,
    workspace: Workspace,
    provider: str,
    actor: User | None = None,
    api_key: str | None = None,
    person_api_key: str | None = None,
    person_enrichment: bool | None = None,
    page_weights: object = None,
) -> EnrichmentSettings:
    """The owner's choices. A key left None keeps the stored one; "" removes it. Bad weights raise
    BadWeights with the reason; nothing is saved then."""
    if provider not in CompanyProvider.values:
        raise BadWeights(f"Unknown provider {provider!r}: one of {', '.join(CompanyProvider.values)}.")
    weights = page_weights_validate(page_weights) if page_weights is not None else None
    config, _ = EnrichmentSettings.objects.get_or_create(workspace=workspace)
    config.provider = provider
    if api_key is not None:
        config.api_key_encrypted = EnrichmentSettings.sealed(api_key.strip())
    if person_api_key is not None:
        config.person_api_key_encrypted = EnrichmentSettings.sealed(person_api_key.strip())
    config.person_enrichment = person_enrichment
    if page_weights is not None:
        config.page_weights = weights
    config.updated_at = timezone.now()
    config.save()
    audit_log_record(
        workspace=workspace,
        actor=actor,
        action="enrichment.settings",
        details={
            "provider": provider,
            "company_key": "changed" if api_key is not None else "kept",
            "person_key": "changed" if person_api_key is not None else "kept",
            "person_enrichment": person_enrichment,
            "page_weights": len(weights) if weights is not None else "kept",
        },
    )
    return config
