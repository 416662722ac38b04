"""The generic signed webhook: any system can send events (see docs/integrations.md).

Header `X-Clarm-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, the shared 5-minute
tolerance. Body: {"id", "event", "occurred_at"?, "email"?, "phone"?, "user_id"?, "visitor_id"?,
"external_ids"?, "properties"?, "ladder": "phone" | "account" | null}.
"""

import json
from typing import Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime

from integrations.events import event_record
from integrations.inbound import NOT_JSON, Inbound, json_body, storable, timestamped_signed_body, unusable
from integrations.models import Connection, WebhookDelivery
from tracking.models import Source

SIGNATURE_HEADER = "X-Clarm-Signature"
KEEP_HEADERS = (SIGNATURE_HEADER,)
LADDERS = (None, "phone", "account")
STRING_FIELDS = ("email", "phone", "user_id", "visitor_id")


def _is_datetime(value: object) -> bool:
    try:
        return isinstance(value, str) and parse_datetime(value) is not None
    except ValueError:  # well-formed but impossible, e.g. 2024-02-30
        return False


def _problem(data: Any) -> str | None:
    """Why a verified body is not a generic event, or None."""
    if not isinstance(data, dict):
        return "Expected a JSON object."
    for key in ("id", "event"):
        if not isinstance(data.get(key), str) or not data[key].strip() or len(data[key]) > 120:
            return f"'{key}' is required: a non-empty string of at most 120 characters."
    for key in STRING_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"'{key}' must be a string."
    if data.get("occurred_at") is not None and not _is_datetime(data["occurred_at"]):
        return "'occurred_at' must be an ISO 8601 date-time."
    for key in ("properties", "external_ids"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' must be an object."
    if data.get("ladder") not in LADDERS:
        return '\'ladder\' must be "phone", "account" or null.'
    return None


def verify(*, request: HttpRequest, connection: Connection) -> list[Inbound]:
    payload = timestamped_signed_body(
        request=request, header=SIGNATURE_HEADER, secret=connection.credentials.get("secret", "")
    )
    data = json_body(payload)
    if data is None:
        return [unusable(payload, NOT_JSON)]
    problem = _problem(data)
    if problem:
        return [unusable(payload, problem)]
    return [Inbound(provider_event_id=data["id"], event_type=data["event"], body=payload)]


def process(*, delivery: WebhookDelivery, connection: Connection | None) -> bool:
    data = storable(json.loads(delivery.body))
    occurred = parse_datetime(data["occurred_at"]) if data.get("occurred_at") else None
    event_record(
        workspace=delivery.workspace,
        provider="generic",
        event=data["event"],
        source=Source.WEBHOOK,
        message_id=f"generic:{data['id']}",
        occurred_at=occurred or delivery.received_at,
        properties=data.get("properties") or {},
        email=data.get("email"),
        phone=data.get("phone"),
        user_id=data.get("user_id"),
        visitor_id=data.get("visitor_id"),
        external_ids={str(k): str(v) for k, v in (data.get("external_ids") or {}).items()},
        phone_channel=data.get("ladder") == "phone",
        account_signal=data.get("ladder") == "account",
    )
    return True
