"""Meta Conversions API: `POST {CLARM_META_API_URL}/{version}/{pixel_id}/events`, JSON
`{"data": [...≤ 1,000 events], "access_token", "test_event_code"?}` (Meta's documented shape).

Per event: `event_name` (the rule's `map_to`, else `rules.META_DEFAULT_NAMES`), `event_time` (Unix
seconds), `event_id` = the Clarm event id (so a browser pixel's copy of the same event dedupes),
`action_source` from the source, `user_data` with SHA-256 of the normalized email (trimmed, lower
case), phone (digits of E.164, no '+') and external id (the Clarm customer id), `fbc` built from the
landing's `fbclid` (`fb.1.<landing ms>.<fbclid>`), and `custom_data` value/currency.

Meta requires `client_user_agent` and `event_source_url` with `action_source: website`. A browser
event goes as `website` with both when its context carries the browser's user agent
(`context["user_agent"]`, kept by the edge) and the page (`context["url"]`); without them it goes
as `system_generated` (docs/destinations.md)."""

from typing import Any

import httpx
from django.conf import settings

from integrations.destinations.base import (
    TIMEOUT_SECONDS,
    Answer,
    Item,
    amount_of,
    answer_from_error,
    answer_from_response,
    email_normalized,
    phone_digits,
    response_json,
    sha256_hex,
)
from integrations.destinations.models import DeliveryKind, Destination
from integrations.destinations.rules import META_DEFAULT_NAMES, mapped_name

BATCH_SIZE = 1000
DEFAULT_VERSION = "v21.0"
# Graph API error codes that are rate limits or temporary (Meta answers them with HTTP 400).
TRANSIENT_CODES = frozenset((1, 2, 4, 17, 32, 341, 613, 80004))
ACTION_SOURCES = {
    "web": "website",
    "pixel": "website",
    "ad": "website",
    "email": "email",
    "agent": "chat",
    "webhook": "system_generated",
}
MOMENT_NAMES = {DeliveryKind.RUNG_REACHED: "Lead", DeliveryKind.HIGH_INTENT: "HighIntentVisitor"}


# The event context key holding the browser's raw user agent (set by the edge for web events).
USER_AGENT_KEY = "user_agent"


def action_source(item: Item) -> str:
    event = item.event
    if event is None:
        return "system_generated"
    if event.source == "channel":
        kind = str((event.properties or {}).get("channel") or (event.properties or {}).get("kind") or "")
        return "phone_call" if "voice" in kind or "call" in event.event else "chat"
    source = ACTION_SOURCES.get(event.source, "other")
    if source == "website" and not (user_agent(item) and page_url(item)):
        return "system_generated"
    return source


def _context_text(item: Item, key: str) -> str:
    context = item.event.context if item.event is not None else None
    value = context.get(key) if isinstance(context, dict) else None
    return value.strip() if isinstance(value, str) else ""


def user_agent(item: Item) -> str:
    return _context_text(item, USER_AGENT_KEY)


def page_url(item: Item) -> str:
    return _context_text(item, "url")


def fbc(item: Item) -> str:
    click = item.attribution.get("fbclid")
    if not click:
        return ""
    return f"fb.1.{int(item.attribution.get('landing_ms') or 0)}.{click}"


def meta_event(item: Item) -> dict[str, Any]:
    delivery, event, customer = item.delivery, item.event, item.customer
    if delivery.kind in MOMENT_NAMES:
        name = str(delivery.rule.get("map_to") or MOMENT_NAMES[delivery.kind])  # type: ignore[index]
    else:
        name = mapped_name(delivery.rule, event_name=event.event if event else "test", defaults=META_DEFAULT_NAMES)
    when = event.occurred_at if event is not None else delivery.created_at
    user_data: dict[str, Any] = {}
    if customer is not None:
        if customer.email:
            user_data["em"] = [sha256_hex(email_normalized(customer.email))]
        if customer.phone:
            user_data["ph"] = [sha256_hex(phone_digits(customer.phone))]
        if customer.pk is not None:
            user_data["external_id"] = [sha256_hex(str(customer.pk))]
    if fbc(item):
        user_data["fbc"] = fbc(item)
    source = action_source(item)
    if source == "website":  # Meta's requirement for web events: the browser's user agent and the page
        user_data["client_user_agent"] = user_agent(item)
    out: dict[str, Any] = {
        "event_name": name,
        "event_time": int(when.timestamp()),
        "event_id": str(event.pk) if event is not None and event.pk else delivery.key,
        "action_source": source,
        "user_data": user_data,
    }
    if source == "website":
        out["event_source_url"] = page_url(item)
    value, currency = amount_of(event)
    if value is not None and currency:
        out["custom_data"] = {"value": value, "currency": currency}
    return out


class MetaSender:
    batch_size = BATCH_SIZE

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        version = config.get("api_version") or DEFAULT_VERSION
        url = f"{settings.CLARM_META_API_URL.rstrip('/')}/{version}/{config['pixel_id']}/events"
        body: dict[str, Any] = {"data": [meta_event(item) for item in items], "access_token": config["access_token"]}
        if config.get("test_event_code"):
            body["test_event_code"] = config["test_event_code"]
        try:
            response = httpx.post(url, json=body, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            return [answer_from_error(exc)] * len(items)
        answer = answer_from_response(response)
        if response.status_code == 400:
            code = (response_json(response).get("error") or {}).get("code")
            if code in TRANSIENT_CODES:
                answer.status_code = 429  # a rate limit in Meta's words: retried like one
                answer.body = f"(Meta error code {code}, a rate limit) " + answer.body
        return [answer] * len(items)


SENDER = MetaSender()
