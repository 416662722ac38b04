"""Rules: which events and moments go to a destination, with their mapping.

    {"on": "event", "event": "purchase", "source"?: "webhook", "map_to"?: "Purchase", "conversion_action"?: "123"}
    {"on": "rung_reached", "rung": 4}
    {"on": "high_intent_visitor"}

`event` may be "*" (every event; with `source` to narrow it). `map_to` names the event at the
provider (Meta's standard events, a CRM note title); without it a default mapping applies
(`META_DEFAULT_NAMES`). Pure functions: no database."""

from typing import Any

MOMENTS = ("rung_reached", "high_intent_visitor")
RULE_KINDS = ("event", *MOMENTS)
SOURCES = ("web", "email", "channel", "agent", "webhook", "pixel", "ad")
MAX_RULES = 50
_OPTIONAL_TEXT = ("map_to", "conversion_action", "source")


class RuleError(ValueError):
    """A rule that cannot be used; the message names which and why."""


def rules_validate(rules: object) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or not rules:
        raise RuleError('rules must be a non-empty list, e.g. [{"on": "event", "event": "purchase"}].')
    if len(rules) > MAX_RULES:
        raise RuleError(f"At most {MAX_RULES} rules per destination.")
    return [_rule_validate(index, rule) for index, rule in enumerate(rules)]


def _rule_validate(index: int, rule: object) -> dict[str, Any]:
    where = f"rules[{index}]"
    if not isinstance(rule, dict):
        raise RuleError(f"{where} must be an object.")
    on = rule.get("on")
    if on not in RULE_KINDS:
        raise RuleError(f"{where}.on must be one of {', '.join(RULE_KINDS)}.")
    clean: dict[str, Any] = {"on": on}
    if on == "event":
        event = rule.get("event")
        if not isinstance(event, str) or not event.strip() or len(event) > 120:
            raise RuleError(f'{where}.event must be an event name (or "*" for every event).')
        clean["event"] = event.strip()
    if on == "rung_reached":
        rung = rule.get("rung")
        if isinstance(rung, bool) or not isinstance(rung, int) or not 1 <= rung <= 4:
            raise RuleError(f"{where}.rung must be an integer from 1 to 4.")
        clean["rung"] = rung
    for name in _OPTIONAL_TEXT:
        value = rule.get(name)
        if value is None:
            continue
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise RuleError(f"{where}.{name} must be a non-empty string.")
        clean[name] = str(value).strip()[:120]
    if "source" in clean and clean["source"] not in SOURCES:
        raise RuleError(f"{where}.source must be one of {', '.join(SOURCES)}.")
    unknown = set(rule) - {"on", "event", "rung", *_OPTIONAL_TEXT}
    if unknown:
        raise RuleError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
    return clean


def event_rule(rules: list[dict[str, Any]], *, name: str, source: str) -> dict[str, Any] | None:
    """The first event rule matching an event (a rule naming the event wins over "*")."""
    wildcard = None
    for rule in rules:
        if rule.get("on") != "event" or rule.get("source") not in (None, source):
            continue
        if rule.get("event") == name:
            return rule
        if rule.get("event") == "*" and wildcard is None:
            wildcard = rule
    return wildcard


def rung_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for rule in rules if rule.get("on") == "rung_reached"]


def moment_rule(rules: list[dict[str, Any]], moment: str) -> dict[str, Any] | None:
    return next((rule for rule in rules if rule.get("on") == moment), None)


# Meta standard events for Clarm's and the providers' event names, when a rule has no `map_to`.
META_DEFAULT_NAMES = {
    "purchase": "Purchase",
    "payment_received": "Purchase",
    "checkout_completed": "Purchase",
    "invoice_paid": "Purchase",
    "booking_created": "Schedule",
    "form_submit": "Lead",
    "lead_qualified": "Lead",
    "identify": "CompleteRegistration",
    "subscription_started": "Subscribe",
    "page_view": "PageView",
    "widget_opened": "Contact",
    "message_sent": "Contact",
}


def mapped_name(rule: dict[str, Any], *, event_name: str, defaults: dict[str, str] | None = None) -> str:
    if rule.get("map_to"):
        return str(rule["map_to"])
    return (defaults or {}).get(event_name, event_name)
