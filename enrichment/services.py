"""Enrichment and intent: the processor the write path runs after commit (`events_enrich_and_score`),
and the writes it makes on the customer (company, person fields, intent score, the
high_intent_visitor moment). See docs/enrichment.md."""

import datetime
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from enrichment.models import CompanyProvider, EnrichmentSettings
from enrichment.moments import HighIntentVisitor, high_intent_visitor_publish
from enrichment.networks import NetworkFacts, network_company, usage_add
from enrichment.providers import ProviderError, pdl
from enrichment.scoring import (
    BadWeights,
    IntentResult,
    Signal,
    enterprise_score,
    intent_compute,
    page_weights_validate,
)
from identity.models import Customer, CustomerStatus
from tracking.hooks import events_stitched_announce
from tracking.models import Event, Source
from workspaces.models import Workspace
from workspaces.services import audit_log_record

logger = logging.getLogger(__name__)

# Only what a visitor does on the business's own site counts (and only once they are counted under
# the workspace's consent mode: events before consent carry no device, so have no customer).
ENRICHED_SOURCES = (Source.WEB, Source.AD, Source.PIXEL)
INTENT_EVENTS = ("page_view", "widget_opened", "message_sent")
HIGH_INTENT_EVENT = "high_intent_visitor"
HIGH_INTENT_THRESHOLD = 70
REARM_BELOW = 50
REARM_AFTER = datetime.timedelta(days=30)
SIGNAL_WINDOW = datetime.timedelta(days=90)  # older signals weigh < 0.02 % (half-life 7 days)
MAX_SIGNALS = 1000
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


def _iso(at: datetime.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _parse(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _facts(context: dict[str, Any]) -> NetworkFacts | None:
    prefix = context.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        return None
    return NetworkFacts(
        prefix=prefix, asn=context.get("asn"), network=context.get("network"), country=context.get("country")
    )


def customer_company_refresh(
    *, customer: Customer, facts: NetworkFacts, config: EnrichmentSettings | None, now: datetime.datetime
) -> None:
    """Look the person's network up (through the cache) unless it was looked up within 30 days, and
    store the company it names (or that it names none: a residential, mobile or hosting network)."""
    held = customer.company_profile or {}
    checked = held.get("network") or {}
    checked_at = _parse(checked.get("checked_at"))
    if checked.get("prefix") == facts.prefix and checked_at and now - checked_at < COMPANY_REFRESH:
        return
    answer = network_company(workspace_id=customer.workspace_id, facts=facts, config=config, now=now)
    profile: dict[str, Any] = {
        "network": {"prefix": facts.prefix, "class": answer.lookup.network_class, "checked_at": _iso(now)}
    }
    if answer.lookup.found:
        company = dict(answer.lookup.company)
        profile.update(company)
        profile["enterprise_score"] = enterprise_score(company)
        profile["source"] = answer.source
        profile["updated_at"] = _iso(now)
    elif held.get("name"):
        # Seen from a home or mobile network after the office: the company already found stays
        # (and this network is remembered as checked, so it is not looked up at every event).
        profile = {**held, "network": profile["network"]}
    Customer.objects.filter(pk=customer.pk).update(company_profile=profile)
    customer.company_profile = profile


def customer_person_refresh(*, customer: Customer, config: EnrichmentSettings, now: datetime.datetime) -> None:
    """Name, title and LinkedIn from the email the person gave (PDL, the workspace's key). Never
    from an IP. Kept for 90 days, then asked again."""
    held = customer.person_profile or {}
    asked_at = _parse(held.get("checked_at"))
    failed_at = _parse(held.get("failed_at"))
    if not customer.email or (asked_at and now - asked_at < PERSON_REFRESH):
        return
    if failed_at and now - failed_at < PERSON_RETRY:
        return
    try:
        found = pdl.person_lookup(email=customer.email, api_key=config.person_api_key)
    except ProviderError as exc:
        logger.warning("person enrichment failed for customer %s: %s", customer.pk, exc)
        usage_add(customer.workspace_id, person_calls=1, provider_errors=1)
        failed = {**held, "failed_at": _iso(now)}
        Customer.objects.filter(pk=customer.pk).update(person_profile=failed)
        customer.person_profile = failed
        return
    usage_add(customer.workspace_id, person_calls=1)
    profile: dict[str, Any] = {"checked_at": _iso(now)}
    if found:
        profile.update(found, source=CompanyProvider.PDL, updated_at=_iso(now))
    Customer.objects.filter(pk=customer.pk).update(person_profile=profile)
    customer.person_profile = profile


@dataclass(frozen=True)
class IntentOutcome:
    result: IntentResult
    fired_event_id: int | None


def _signals(customer_ids: list[int], now: datetime.datetime) -> dict[int, list[Signal]]:
    """Each person's page and widget events of the window, newest first, at most MAX_SIGNALS each:
    one query for all of them."""
    ranked = (
        Event.objects.filter(
            customer_id__in=customer_ids, occurred_at__gte=now - SIGNAL_WINDOW, event__in=INTENT_EVENTS
        )
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("customer_id")], order_by=[F("occurred_at").desc(), F("id").desc()]
            )
        )
        .filter(rank__lte=MAX_SIGNALS)
        .values_list("customer_id", "event", "occurred_at", "context__url")
    )
    out: dict[int, list[Signal]] = defaultdict(list)
    for customer_id, event, at, url in ranked:
        out[customer_id].append(Signal(event=event, occurred_at=at, url=url if isinstance(url, str) else ""))
    return out


def _intent_next(customer: Customer, result: IntentResult, now: datetime.datetime) -> tuple[dict[str, Any], bool]:
    """The person's new intent state, and whether high_intent_visitor fires now."""
    state = dict(customer.intent or {})
    armed = state.get("armed", True)
    fired_at = _parse(state.get("fired_at"))
    if not armed and (result.score < REARM_BELOW or (fired_at is not None and now - fired_at >= REARM_AFTER)):
        armed = True
    fire = armed and result.score >= HIGH_INTENT_THRESHOLD
    if fire:
        armed, fired_at = False, now
    state.update(
        parts=result.explanation(), computed_at=_iso(now), armed=armed, fired_at=_iso(fired_at) if fired_at else None
    )
    return state, fire


def _intent_write(people: list[Customer]) -> None:
    """One UPDATE per person sent as one batch (executemany): Django's bulk_update builds a CASE
    expression per row, ~1.7 ms of Python each."""
    meta = Customer._meta
    fields = {f.name: f for f in meta.concrete_fields}
    score, intent, pk = fields["intent_score"], fields["intent"], fields["id"]
    quote = connection.ops.quote_name
    # Names from the model's _meta, quoted; every value is a bound parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {quote(score.column)} = %s, {quote(intent.column)} = %s"  # noqa: S608
        f" WHERE {quote(pk.column)} = %s"
    )
    rows = [(c.intent_score, intent.get_db_prep_save(c.intent, connection), c.pk) for c in people]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def customers_intent_refresh(
    *, customer_ids: list[int], config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> dict[int, IntentOutcome]:
    """Recompute these people's intent scores in one transaction (under their row locks, taken in
    id order, so concurrent refreshes fire the moment once) and fire `high_intent_visitor` for each
    whose score crossed 70 upward while armed. Re-armed when it falls below 50, or 30 days after it
    fired. Returns the outcome per live customer."""
    now = now or timezone.now()
    outcomes: dict[int, IntentOutcome] = {}
    with transaction.atomic():
        people = list(
            Customer.objects.select_for_update(no_key=True)
            .filter(pk__in=customer_ids, status=CustomerStatus.LIVE)
            .order_by("pk")
        )
        if not people:
            return outcomes
        signals = _signals([c.pk for c in people], now)
        fired: list[tuple[Customer, Event]] = []
        for customer in people:
            result = intent_compute(
                signals=signals.get(customer.pk, []),
                page_weights=config.page_weights if config is not None else None,
                enterprise_score=(customer.company_profile or {}).get("enterprise_score"),
                rung=customer.rung,
                now=now,
            )
            customer.intent, fire = _intent_next(customer, result, now)
            customer.intent_score = result.score
            outcomes[customer.pk] = IntentOutcome(result, None)
            if fire:
                event = Event(
                    workspace_id=customer.workspace_id,
                    customer_id=customer.pk,
                    event=HIGH_INTENT_EVENT,
                    source=Source.AGENT,
                    occurred_at=now,
                    received_at=now,
                    rung=customer.rung,
                    properties={
                        "agent": "intent",
                        "score": result.score,
                        "reasons": [p["text"] for p in result.explanation()],
                    },
                )
                fired.append((customer, event))
        _intent_write(people)
        if fired:
            Event.objects.bulk_create([event for _, event in fired])
            moments = []
            for customer, event in fired:
                outcomes[customer.pk] = IntentOutcome(outcomes[customer.pk].result, event.pk)
                moments.append(
                    HighIntentVisitor(
                        workspace_id=customer.workspace_id,
                        customer_id=customer.pk,
                        event_id=event.pk,
                        score=outcomes[customer.pk].result.score,
                    )
                )
            transaction.on_commit(lambda: _moments_announce(moments))
    return outcomes


def customer_intent_refresh(
    *, customer_id: int, config: EnrichmentSettings | None, now: datetime.datetime | None = None
) -> IntentOutcome | None:
    """One person's intent refresh (see customers_intent_refresh)."""
    return customers_intent_refresh(customer_ids=[customer_id], config=config, now=now).get(customer_id)


def _moments_announce(moments: list[HighIntentVisitor]) -> None:
    # The timeline events go through the same after-commit hook as every event (destinations that
    # follow events see them), and subscribers of the moment get each directly.
    for moment in moments:
        events_stitched_announce(moment.workspace_id, [moment.event_id])
        high_intent_visitor_publish(moment)


def _gpc(context: dict[str, Any]) -> bool:
    return bool(context.get("gpc") or context.get("dnt"))


def events_enrich_and_score(*, workspace_id: int, event_ids: list[int]) -> int:
    """THE enrichment processor (idempotent): for the customers of these committed events, enrich
    the company from their network (cached), person fields from their email (BYOK, where allowed),
    and recompute their intent score. Returns how many customers were scored.

    Only events from the site (web, ad, pixel), not bots, of people counted under the workspace's
    consent mode (an event before consent has no customer), who have not opted out of analytics,
    and not sent with GPC/DNT."""
    rows = list(
        Event.objects.filter(
            workspace_id=workspace_id,
            pk__in=event_ids,
            customer__isnull=False,
            is_bot=False,
            source__in=ENRICHED_SOURCES,
        )
        .order_by("occurred_at", "id")
        .values_list("customer_id", "context")
    )
    if not rows:
        return 0
    latest: dict[int, dict[str, Any]] = {}
    refused: set[int] = set()
    for customer_id, context in rows:
        context = context if isinstance(context, dict) else {}
        if _gpc(context):
            refused.add(customer_id)
        latest[customer_id] = context
    customers = Customer.objects.filter(
        workspace_id=workspace_id, pk__in=[c for c in latest if c not in refused], status=CustomerStatus.LIVE
    ).filter(allow_analytics=True)
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:  # deleted since
        return 0
    config = settings_get(workspace_id=workspace_id)
    person_on = person_enrichment_on(workspace=workspace, config=config)
    now = timezone.now()
    people = list(customers.order_by("pk"))
    # Scores first (no provider on the way: current within a second of the event), then the
    # lookups, which may wait on a provider; a person whose company profile changed is rescored.
    scored = len(customers_intent_refresh(customer_ids=[c.pk for c in people], config=config, now=now))
    changed = []
    for customer in people:
        before = (customer.company_profile or {}).get("enterprise_score")
        facts = _facts(latest[customer.pk])
        if facts is not None:
            customer_company_refresh(customer=customer, facts=facts, config=config, now=now)
        if person_on and config is not None:
            customer_person_refresh(customer=customer, config=config, now=now)
        if (customer.company_profile or {}).get("enterprise_score") != before:
            changed.append(customer.pk)
    if changed:
        customers_intent_refresh(customer_ids=changed, config=config)
    return scored


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
