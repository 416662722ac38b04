"""Loading what a batch of deliveries is about, in a few queries: events, customers (with their
identifiers, for the read-API shape) and each person's landing attribution."""

from typing import Any

from identity.models import Customer
from integrations.destinations.base import Item
from integrations.destinations.models import DestinationDelivery
from tracking.models import Event

CLICK_IDS = ("fbclid", "gclid", "gbraid", "wbraid")


def attribution_by_customer(customer_ids: list[int]) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Per customer: (the latest landing carrying an ad click id, with `landing_ms`; the first landing)."""
    out: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    if not customer_ids:
        return out
    rows = (
        Event.objects.filter(customer_id__in=customer_ids, context__has_key="attribution")
        .order_by("occurred_at", "id")
        .values_list("customer_id", "occurred_at", "context")
    )
    for customer_id, occurred_at, context in rows.iterator(chunk_size=2000):
        landing = (context or {}).get("attribution") or {}
        if not isinstance(landing, dict) or customer_id is None:
            continue
        clicks, first = out.get(customer_id, ({}, {}))
        if not first:
            first = dict(landing)
        if any(landing.get(k) for k in CLICK_IDS):
            clicks = {**landing, "landing_ms": int(occurred_at.timestamp() * 1000)}
        out[customer_id] = (clicks, first)
    return out


def items_load(
    deliveries: list[DestinationDelivery], *, with_attribution: bool, with_identifiers: bool = True
) -> list[Item]:
    event_ids = [d.event_id for d in deliveries if d.event_id]
    events = {e.pk: e for e in Event.objects.filter(pk__in=event_ids)} if event_ids else {}
    customer_ids = sorted({d.customer_id for d in deliveries if d.customer_id})
    rows = Customer.objects.filter(pk__in=customer_ids)
    if with_identifiers:  # the read-API shape (outbound webhooks) lists them
        rows = rows.prefetch_related("identifiers")
    customers = {c.pk: c for c in rows} if customer_ids else {}
    attribution = attribution_by_customer(customer_ids) if with_attribution else {}
    items = []
    for delivery in deliveries:
        customer = customers.get(delivery.customer_id) if delivery.customer_id else None
        clicks, first = attribution.get(delivery.customer_id or 0, ({}, {}))
        items.append(
            Item(
                delivery=delivery,
                event=events.get(delivery.event_id) if delivery.event_id else None,
                customer=customer,
                attribution=clicks,
                first_touch=first,
            )
        )
    return items
