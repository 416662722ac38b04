"""Google Ads offline conversions through the Data Manager API (Google refuses new adopters of the
Google Ads API upload since 2026-06-15):

    POST {CLARM_GOOGLE_DATAMANAGER_API_URL}/v1/events:ingest     Authorization: Bearer <OAuth token>
    {"destinations": [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId"},
                       "loginAccount"?, "productDestinationId": <conversion action id>, "reference"}],
     "encoding": "HEX", "events": [...≤ 2,000], "validateOnly": false}

Per event: `destinationReferences` (the rule's `conversion_action`, else the destination's
`conversion_action_id`), `transactionId` (the Clarm event id: Google dedupes on it),
`eventTimestamp`, `adIdentifiers` with the landing's `gclid` / `gbraid` / `wbraid`, `userData`
with SHA-256 hex of the normalized email and E.164 phone (enhanced conversions), `conversionValue`,
`currency`, `eventSource`, and the person's ad consent (only people who allow ad send-back get here).

OAuth: a refresh token (client id + secret) or a service account key (JWT bearer grant, RS256),
against `CLARM_GOOGLE_OAUTH_TOKEN_URL`; the access token is cached until a minute before it expires."""

import base64
import json
import time
from datetime import UTC
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from django.conf import settings
from django.core.cache import cache

from integrations.destinations.base import (
    TIMEOUT_SECONDS,
    Answer,
    ConfigError,
    Item,
    amount_of,
    answer_from_error,
    answer_from_response,
    email_normalized,
    response_json,
    sha256_hex,
)
from integrations.destinations.models import Destination

BATCH_SIZE = 2000
SCOPE = "https://www.googleapis.com/auth/datamanager"
EVENT_SOURCES = {"web": "WEB", "pixel": "WEB", "ad": "WEB", "channel": "PHONE", "agent": "OTHER"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_assertion(key_json: str, *, token_url: str, now: int | None = None) -> str:
    """A signed JWT for the OAuth 2.0 JWT bearer grant (RFC 7523), as Google's auth libraries make it."""
    try:
        key = json.loads(key_json)
        private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("service_account_json is not a Google service account key.") from exc
    if not isinstance(private, RSAPrivateKey):
        raise ConfigError("service_account_json must hold an RSA key.")
    issued = int(now or time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": key.get("private_key_id", "")}
    claims = {"iss": key["client_email"], "scope": SCOPE, "aud": token_url, "iat": issued, "exp": issued + 3600}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def access_token(destination: Destination, config: dict[str, Any]) -> str | Answer:
    """A cached access token, or the token endpoint's answer when it refused."""
    cache_key = f"clarm:dest:{destination.pk}:google-token"
    cached = cache.get(cache_key) if destination.pk else None
    if cached:
        return str(cached)
    token_url = settings.CLARM_GOOGLE_OAUTH_TOKEN_URL
    if config.get("service_account_json"):
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": service_account_assertion(config["service_account_json"], token_url=token_url),
        }
    else:
        form = {
            "grant_type": "refresh_token",
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
            "refresh_token": config["refresh_token"],
        }
    try:
        response = httpx.post(token_url, data=form, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return answer_from_error(exc)
    token = response_json(response).get("access_token") if response.status_code == 200 else None
    if not token:
        answer = answer_from_response(response)
        answer.body = "OAuth token endpoint: " + answer.body
        return answer
    expires = int(response_json(response).get("expires_in") or 3600)
    if destination.pk:
        cache.set(cache_key, token, max(60, expires - 60))
    return str(token)


def _digits(value: str) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def google_event(item: Item, reference: str) -> dict[str, Any]:
    event, customer = item.event, item.customer
    when = event.occurred_at if event is not None else item.delivery.created_at
    out: dict[str, Any] = {
        "destinationReferences": [reference],
        "transactionId": str(event.pk) if event is not None and event.pk else item.delivery.key,
        "eventTimestamp": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "eventSource": EVENT_SOURCES.get(event.source if event is not None else "", "OTHER"),
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
    }
    ad_ids = {k: item.attribution[k] for k in ("gclid", "gbraid", "wbraid") if item.attribution.get(k)}
    if ad_ids:
        out["adIdentifiers"] = ad_ids
    identifiers = []
    if customer is not None and customer.email:
        identifiers.append({"emailAddress": sha256_hex(email_normalized(customer.email))})
    if customer is not None and customer.phone:
        identifiers.append({"phoneNumber": sha256_hex("+" + _digits(customer.phone))})
    if identifiers:
        out["userData"] = {"userIdentifiers": identifiers}
    value, currency = amount_of(event)
    if value is not None:
        out["conversionValue"] = value
        if currency:
            out["currency"] = currency
    return out


class GoogleAdsSender:
    batch_size = BATCH_SIZE

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        token = access_token(destination, config)
        if isinstance(token, Answer):
            return [token] * len(items)
        default_action = config.get("conversion_action_id") or ""
        references = []
        events = []
        for item in items:
            action = str(item.delivery.rule.get("conversion_action") or default_action)
            if action and action not in references:
                references.append(action)
            events.append(google_event(item, action))
        if not references:
            answer = Answer(
                status_code=None,
                body="No conversion action: set conversion_action_id or a rule's conversion_action.",
                final=True,
            )
            return [answer] * len(items)
        account: dict[str, Any] = {"accountType": "GOOGLE_ADS", "accountId": _digits(config["customer_id"])}
        destinations = []
        for action in references:
            entry: dict[str, Any] = {"operatingAccount": account, "productDestinationId": action, "reference": action}
            if config.get("login_customer_id"):
                entry["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": _digits(config["login_customer_id"])}
            destinations.append(entry)
        body = {"destinations": destinations, "encoding": "HEX", "events": events, "validateOnly": False}
        url = settings.CLARM_GOOGLE_DATAMANAGER_API_URL.rstrip("/") + "/v1/events:ingest"
        try:
            response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            return [answer_from_error(exc)] * len(items)
        if response.status_code == 401:
            cache.delete(f"clarm:dest:{destination.pk}:google-token")
        return [answer_from_response(response, remote_id=str(response_json(response).get("requestId") or ""))] * len(
            items
        )


SENDER = GoogleAdsSender()
