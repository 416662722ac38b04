"""The wire protocol of a workspace's own model endpoint (docs/agents.md, “Your own model endpoint”):
the request Clarm POSTs, its signature, and the answer it accepts.

The request carries what a model needs to answer one message and nothing more personal: the
person's Clarm id and rung (no name, email or phone), the channel, the recent messages of the thread
(direction, time, text) and the workspace's FAQ topics. It is signed like Stripe's webhooks:
`X-Clarm-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>` with the owner's secret,
so the endpoint can check both who sent it and that it is fresh. The POST goes through the SSRF guard
of destinations (`guarded_post`), with a short timeout; every way it can go wrong is one
`EndpointFailed` whose message the owner reads in Settings → Agents."""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from agents.registry import ACTION_NAME
from integrations.destinations.ssrf import DestinationUrlRefused, PostFailed, PostTimeout, guarded_post

SIGNATURE_HEADER = "X-Clarm-Signature"
PROTOCOL_VERSION = 1
# Messages of the thread sent before the one to answer (oldest first), and the text kept of each.
THREAD_MESSAGES = 10
MAX_MESSAGE_CHARS = 2000
# An answer larger than this, or a reply longer than this, is refused (the message goes to a person).
MAX_ANSWER_BYTES = 32_000
MAX_REPLY_CHARS = 1600
MAX_REASON_CHARS = 200
MAX_PROPERTIES_CHARS = 16_000


class EndpointFailed(Exception):
    """The endpoint could not be used for this message; the text says why (shown to the owner)."""


@dataclass(frozen=True)
class EndpointAnswer:
    reply: str = ""
    handoff: bool = False
    reason: str = ""
    action: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


def endpoint_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise EndpointFailed(f"The answer's “{name}” must be text.")
    value = value.strip()
    if len(value) > limit:
        raise EndpointFailed(f"The answer's “{name}” is longer than {limit} characters.")
    return value


def answer_parse(content: bytes) -> EndpointAnswer:
    """`{"reply": "…"}` and/or `{"handoff": true, "reason": "…"}`, optionally with
    `"action": "<snake_case>", "properties": {…}`; anything else raises EndpointFailed naming it."""
    if len(content) > MAX_ANSWER_BYTES:
        raise EndpointFailed(f"The answer is larger than {MAX_ANSWER_BYTES} bytes.")
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise EndpointFailed("The answer is not valid JSON.") from None
    if not isinstance(data, dict):
        raise EndpointFailed("The answer must be a JSON object.")
    reply = _text(data.get("reply", ""), "reply", MAX_REPLY_CHARS)
    handoff = data.get("handoff", False)
    if not isinstance(handoff, bool):
        raise EndpointFailed("The answer's “handoff” must be true or false.")
    if not reply and not handoff:
        raise EndpointFailed("The answer has neither a “reply” nor “handoff”: true.")
    reason = _text(data.get("reason", ""), "reason", MAX_REASON_CHARS)
    action = data.get("action", "")
    if action and (not isinstance(action, str) or not ACTION_NAME.match(action)):
        raise EndpointFailed("The answer's “action” must be snake_case (lowercase letters, digits, _), 1-64 long.")
    properties = data.get("properties", {})
    if not isinstance(properties, dict):
        raise EndpointFailed("The answer's “properties” must be a JSON object.")
    if len(json.dumps(properties)) > MAX_PROPERTIES_CHARS:
        raise EndpointFailed(f"The answer's “properties” are larger than {MAX_PROPERTIES_CHARS} characters.")
    return EndpointAnswer(reply=reply, handoff=handoff, reason=reason, action=action or "", properties=properties)


def endpoint_call(*, url: str, secret: str, payload: dict[str, Any], timeout: float) -> EndpointAnswer:
    """POST the signed request and read the answer; raises EndpointFailed for a refused URL, a
    timeout, a network error, an answer other than 2xx or an answer that is not the documented shape."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Clarm-Agents/1",
        SIGNATURE_HEADER: endpoint_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    try:
        response = guarded_post(url, content=body, headers=headers, timeout=timeout)
    except DestinationUrlRefused as exc:
        raise EndpointFailed(f"Refused: {exc}") from None
    except PostTimeout:
        raise EndpointFailed(f"No answer within {timeout:g} s.") from None
    except PostFailed as exc:
        raise EndpointFailed(f"Could not reach the endpoint: {type(exc).__name__}.") from None
    if not 200 <= response.status_code < 300:
        raise EndpointFailed(f"The endpoint answered HTTP {response.status_code}.")
    return answer_parse(response.content)
