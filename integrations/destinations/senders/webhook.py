"""Outbound webhooks, signed with Standard Webhooks (https://www.standardwebhooks.com/):
`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
keyed with the base64 part of the `whsec_…` secret. One request per delivery; the id is stable per
delivery so a receiver dedupes retries."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from integrations.destinations.base import (
    TIMEOUT_SECONDS,
    Answer,
    Item,
    answer_from_error,
    answer_from_response,
)
from integrations.destinations.models import DeliveryKind, Destination
from integrations.destinations.payloads import webhook_body
from integrations.destinations.ssrf import DestinationUrlRefused, guarded_post

TYPES = {
    DeliveryKind.EVENT: "event.created",
    DeliveryKind.TEST: "event.created",
    DeliveryKind.RUNG_REACHED: "customer.rung_reached",
    DeliveryKind.HIGH_INTENT: "high_intent_visitor",
}


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookSender:
    batch_size = 1

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        answers = []
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            for item in items:
                answers.append(self._one(destination, config, item, client))
        return answers

    def _one(self, destination: Destination, config: dict[str, Any], item: Item, client: httpx.Client) -> Answer:
        delivery = item.delivery
        payload = webhook_body(
            kind=TYPES.get(delivery.kind, "event.created"),  # type: ignore[call-overload]
            delivery_id=delivery.pk,
            customer=item.customer,
            event=item.event,
            data=dict(delivery.data),
        )
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Clarm-Webhooks/1",
            "webhook-id": payload["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(
                secret=config["secret"], msg_id=payload["id"], timestamp=timestamp, body=body
            ),
        }
        try:
            response = guarded_post(
                config["url"], content=body, headers=headers, timeout=TIMEOUT_SECONDS, client=client
            )
        except DestinationUrlRefused as exc:
            return Answer(status_code=None, body=str(exc), final=True)
        except httpx.HTTPError as exc:
            return answer_from_error(exc)
        return answer_from_response(response)


SENDER = WebhookSender()
