"""Per provider: the config keys a destination needs, its consent purpose, and whether it can delete
a person on erasure. docs/destinations.md lists the same."""

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

from integrations.destinations.base import Sender
from integrations.destinations.senders import crm, google_ads, meta, slack, webhook
from integrations.destinations.ssrf import DestinationUrlRefused, url_check


@dataclass(frozen=True)
class ConfigField:
    name: str
    label: str
    required: bool = False
    secret: bool = False
    url: bool = False  # owner-set URL: passes the SSRF guard
    # A regular expression the value must match in full, and what it is in words (for the 400).
    pattern: str = ""
    pattern_text: str = ""


@dataclass(frozen=True)
class DestinationSpec:
    key: str
    name: str
    sender: Sender
    fields: tuple[ConfigField, ...]
    # "ad_sendback": only for people who allow ad send-back, never with GPC/DNT.
    # "analytics": the workspace's own tools (CRM, Slack, webhooks): not for people who opted out of analytics.
    purpose: str
    can_erase: bool = False
    # Groups of keys of which at least one complete group is required (e.g. a webhook URL, or token + channel).
    one_of: tuple[tuple[str, ...], ...] = ()
    generated_secret: str = ""


SALESFORCE_CUSTOM_FIELD = r"[A-Za-z][A-Za-z0-9_]{0,38}__c"
SALESFORCE_CLARM_FIELDS = (
    ("rung", "rung", "Clarm_Rung__c"),
    ("customer_number", "customer number", "Clarm_Customer_Number__c"),
    ("first_touch_source", "first-touch source", "Clarm_First_Touch_Source__c"),
    ("first_touch_campaign", "first-touch campaign", "Clarm_First_Touch_Campaign__c"),
)

SPECS: dict[str, DestinationSpec] = {
    "webhook": DestinationSpec(
        key="webhook",
        name="Outbound webhook",
        sender=webhook.SENDER,
        fields=(ConfigField("url", "Endpoint URL", required=True, url=True),),
        purpose="analytics",
        generated_secret="secret",
    ),
    "slack": DestinationSpec(
        key="slack",
        name="Slack",
        sender=slack.SENDER,
        fields=(
            ConfigField("webhook_url", "Incoming webhook URL", secret=True, url=True),
            ConfigField("token", "Bot token (xoxb-…)", secret=True),
            ConfigField("channel", "Channel (with a bot token)"),
        ),
        purpose="analytics",
        one_of=(("webhook_url",), ("token", "channel")),
    ),
    "meta_capi": DestinationSpec(
        key="meta_capi",
        name="Meta Conversions API",
        sender=meta.SENDER,
        fields=(
            ConfigField("pixel_id", "Pixel (dataset) id", required=True),
            ConfigField("access_token", "Access token", required=True, secret=True),
            ConfigField("test_event_code", "Test event code (Events Manager → Test events)"),
            ConfigField("api_version", "Graph API version (default v21.0)"),
        ),
        purpose="ad_sendback",
    ),
    "google_ads": DestinationSpec(
        key="google_ads",
        name="Google Ads (Data Manager API)",
        sender=google_ads.SENDER,
        fields=(
            ConfigField("customer_id", "Google Ads customer id (operating account)", required=True),
            ConfigField("conversion_action_id", "Conversion action id (a rule may name its own)"),
            ConfigField("login_customer_id", "Manager (login) account id"),
            ConfigField("client_id", "OAuth client id"),
            ConfigField("client_secret", "OAuth client secret", secret=True),
            ConfigField("refresh_token", "OAuth refresh token", secret=True),
            ConfigField("service_account_json", "Service account key (JSON)", secret=True),
        ),
        purpose="ad_sendback",
        one_of=(("client_id", "client_secret", "refresh_token"), ("service_account_json",)),
    ),
    "hubspot": DestinationSpec(
        key="hubspot",
        name="HubSpot",
        sender=crm.HUBSPOT,
        fields=(ConfigField("token", "Private app access token", required=True, secret=True),),
        purpose="analytics",
        can_erase=True,
    ),
    "pipedrive": DestinationSpec(
        key="pipedrive",
        name="Pipedrive",
        sender=crm.PIPEDRIVE,
        fields=(ConfigField("api_token", "API token", required=True, secret=True),),
        purpose="analytics",
        can_erase=True,
    ),
    "salesforce": DestinationSpec(
        key="salesforce",
        name="Salesforce",
        sender=crm.SALESFORCE,
        fields=(
            ConfigField("client_id", "Connected app consumer key", required=True),
            ConfigField("client_secret", "Connected app consumer secret", required=True, secret=True),
            ConfigField("refresh_token", "OAuth refresh token (else the client-credentials flow)", secret=True),
            ConfigField("object", "Lead or Contact (default Lead)"),
            *(
                ConfigField(
                    f"{key}_field",
                    f"Custom field for the {label} (API name, e.g. {example})",
                    pattern=SALESFORCE_CUSTOM_FIELD,
                    pattern_text="a custom field API name ending in __c",
                )
                for key, label, example in SALESFORCE_CLARM_FIELDS
            ),
        ),
        purpose="analytics",
        can_erase=True,
    ),
    "gohighlevel": DestinationSpec(
        key="gohighlevel",
        name="GoHighLevel",
        sender=crm.GOHIGHLEVEL,
        fields=(
            ConfigField("token", "Private integration token", required=True, secret=True),
            ConfigField("location_id", "Location (sub-account) id", required=True),
        ),
        purpose="analytics",
        can_erase=True,
    ),
}


class ConfigInvalid(ValueError):
    """The config cannot be used; the message names the key."""


def config_validate(
    provider: str, values: object, *, current: dict[str, Any] | None = None, partial: bool = False
) -> dict[str, Any]:
    """Clean config for a provider. With `current` (an update), keys not given keep their value."""
    spec = SPECS[provider]
    if not isinstance(values, dict):
        raise ConfigInvalid("config must be an object.")
    known = {f.name for f in spec.fields}
    unknown = set(values) - known - ({spec.generated_secret} if spec.generated_secret else set())
    if unknown:
        raise ConfigInvalid(f"Unknown config keys for {provider}: {', '.join(sorted(unknown))}.")
    merged: dict[str, Any] = dict(current or {})
    for f in spec.fields:
        if f.name not in values:
            continue
        value = values[f.name]
        if value is None or value == "":
            if partial:
                merged.pop(f.name, None)
            continue
        if not isinstance(value, str):
            raise ConfigInvalid(f"config.{f.name} must be a string.")
        if f.pattern and not re.fullmatch(f.pattern, value.strip()):
            raise ConfigInvalid(f"config.{f.name} must be {f.pattern_text}.")
        merged[f.name] = value.strip()
    for f in spec.fields:
        if f.required and not merged.get(f.name):
            raise ConfigInvalid(f"config.{f.name} is required for {provider}.")
    if spec.one_of and not any(all(merged.get(k) for k in group) for group in spec.one_of):
        options = " or ".join("+".join(group) for group in spec.one_of)
        raise ConfigInvalid(f"config needs {options} for {provider}.")
    for f in spec.fields:
        if f.url and merged.get(f.name):
            try:
                url_check(merged[f.name])
            except DestinationUrlRefused as exc:
                raise ConfigInvalid(f"config.{f.name}: {exc}") from exc
    if spec.generated_secret and not merged.get(spec.generated_secret):
        merged[spec.generated_secret] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return merged


def config_shown(provider: str, config: dict[str, Any]) -> dict[str, str]:
    """Config as shown to a member or in the API: secrets masked, the webhook secret never."""
    spec = SPECS[provider]
    shown: dict[str, str] = {}
    for f in spec.fields:
        value = config.get(f.name)
        if not value:
            continue
        shown[f.name] = ("…" + str(value)[-4:]) if f.secret else str(value)
    return shown
