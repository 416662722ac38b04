"""Consent before anything leaves for a destination (docs/destinations.md "Consent").

- Ad send-back (Meta, Google Ads): only for a known person whose `ad_sendback` preference allows it
  (an opt-out from any stitched identifier, kept in the suppression list, sets it off), and never
  for an event that carried Global Privacy Control or Do Not Track.
- The workspace's own tools (CRMs, Slack, outbound webhooks) are the business processing its own
  customer relationship: nothing is sent about a person who opted out of analytics tracking.
- An erasure always goes; an opt-out goes unless the person allowed it again before it was sent.
"""

from integrations.destinations.base import Item
from integrations.destinations.models import DeliveryKind

AD_SENDBACK = "ad_sendback"


def privacy_signal(item: Item) -> bool:
    context = item.event.context if item.event is not None else None
    if not isinstance(context, dict):
        return False
    return any(context.get(key) in (True, 1, "1") for key in ("gpc", "dnt"))


def consent_refusal(*, purpose: str, item: Item) -> str:
    """Why this item must not be sent ("" when it may)."""
    customer = item.customer
    if item.delivery.kind == DeliveryKind.ERASURE:
        return ""
    if item.delivery.kind == DeliveryKind.OPTOUT:
        purposes = item.delivery.data.get("opted_out") or []
        if customer is not None and all(getattr(customer, f"allow_{p}", False) for p in purposes):
            return "Skipped: the person allowed it again before the opt-out was sent."
        return ""
    if purpose == AD_SENDBACK:
        if customer is None:
            return "Skipped: no known person to send back."
        if not customer.allow_ad_sendback:
            return "Skipped: the person does not allow ad send-back."
        if privacy_signal(item):
            return "Skipped: the event carried Global Privacy Control / Do Not Track."
        return ""
    if customer is not None and not customer.allow_analytics:
        return "Skipped: the person opted out of analytics tracking."
    return ""
