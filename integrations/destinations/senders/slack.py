"""Slack: an incoming webhook URL, or a bot token + channel through `slack_sdk`'s Web API client
(`chat.postMessage`). The message names the person, what happened, and links to their timeline.
The Web API base URL is `CLARM_SLACK_API_URL` (default https://slack.com); the incoming webhook URL
is the owner's and passes the SSRF guard."""

import json
from typing import Any

import httpx
from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from identity.timeline import RUNG_NAMES, event_text
from integrations.destinations.base import (
    TIMEOUT_SECONDS,
    Answer,
    Item,
    answer_from_error,
    answer_from_response,
    retry_after_seconds,
)
from integrations.destinations.models import DeliveryKind, Destination
from integrations.destinations.payloads import timeline_url
from integrations.destinations.ssrf import DestinationUrlRefused, guarded_post


def _who(item: Item) -> str:
    customer = item.customer
    if customer is None:
        return "An anonymous visitor"
    label = customer.name or customer.email or customer.phone or f"Visitor #{customer.pk}"
    if customer.customer_number and customer.rung >= 4:
        label += f" (customer #{customer.customer_number})"
    return label


def _what(item: Item) -> str:
    delivery = item.delivery
    if delivery.kind == DeliveryKind.RUNG_REACHED:
        rung = int(delivery.data.get("rung", 0))
        return f"reached rung {rung} ({RUNG_NAMES.get(rung, '')})"
    if delivery.kind == DeliveryKind.NEEDS_HUMAN:
        return f"needs human eyes: {delivery.data.get('reason') or 'an agent handed the thread over'}"
    if delivery.kind == DeliveryKind.HIGH_INTENT:
        score = delivery.data.get("score")
        return "is a high-intent visitor" + (f" (intent score {score})" if score is not None else "")
    if item.event is not None:
        title = event_text(
            event=item.event.event,
            source=item.event.source,
            properties=item.event.properties,
            context=item.event.context,
        ).title
        return f"{title} ({item.event.source})"
    return "did something"


def message(item: Item, *, link: str) -> tuple[str, list[dict[str, Any]]]:
    prefix = "[Test] " if item.delivery.kind == DeliveryKind.TEST else ""
    text = f"{prefix}{_who(item)} {_what(item)}"
    thread = item.delivery.data.get("thread_url") if item.delivery.kind == DeliveryKind.NEEDS_HUMAN else None
    open_link = f"<{thread}|Open the thread in the Inbox>" if thread else f"<{link}|Open the timeline in Clarm>"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"*{text}*")).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text=open_link)]).to_dict(),
    ]
    return text, blocks


class SlackSender:
    batch_size = 1

    def send(self, *, destination: Destination, config: dict[str, Any], items: list[Item]) -> list[Answer]:
        out = []
        for item in items:
            text, blocks = message(item, link=timeline_url(destination.workspace, item.customer))
            if config.get("webhook_url"):
                out.append(self._webhook(config["webhook_url"], text, blocks))
            else:
                out.append(self._bot(config, text, blocks))
        return out

    def _webhook(self, url: str, text: str, blocks: list[dict[str, Any]]) -> Answer:
        body = json.dumps({"text": text, "blocks": blocks}).encode()
        try:
            response = guarded_post(
                url, content=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS
            )
        except DestinationUrlRefused as exc:
            return Answer(status_code=None, body=str(exc), final=True)
        except httpx.HTTPError as exc:
            return answer_from_error(exc)
        return answer_from_response(response)

    def _bot(self, config: dict[str, Any], text: str, blocks: list[dict[str, Any]]) -> Answer:
        client = WebClient(
            token=config["token"],
            base_url=settings.CLARM_SLACK_API_URL.rstrip("/") + "/api/",
            timeout=int(TIMEOUT_SECONDS),
        )
        try:
            response = client.chat_postMessage(channel=config["channel"], text=text, blocks=blocks)
        except SlackApiError as exc:
            answer = exc.response
            return Answer(
                status_code=answer.status_code if answer.status_code != 200 else 400,
                body=json.dumps(answer.data) if isinstance(answer.data, dict) else str(answer.data),
                retry_after=retry_after_seconds(answer.headers.get("Retry-After") or answer.headers.get("retry-after")),
            )
        except OSError as exc:
            return answer_from_error(exc)
        return Answer(
            status_code=response.status_code,
            body=json.dumps(response.data)[:2000],
            remote_id=str(response.get("ts") or ""),
        )


SENDER = SlackSender()
