"""The only module that talks to the Twilio SDK (every request with a timeout).

`CLARM_TWILIO_API_URL` (e.g. `http://127.0.0.1:8765`) replaces the scheme and host of every URL the SDK
builds (`https://api.twilio.com/2010-04-01/...`), for tests against a local server and for proxies.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

TIMEOUT_SECONDS = 10
_ORIGIN = re.compile(r"^https?://[^/]+")


class TwilioSendError(Exception):
    """Twilio refused the message (bad number, unverified sender…): not worth retrying."""


class TwilioUnavailable(Exception):
    """Network failure or a 5xx/429 from Twilio: worth retrying later."""


class _BaseUrlHttpClient(TwilioHttpClient):
    def __init__(self, *, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout, pool_connections=False)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url:
            url = _ORIGIN.sub(self.base_url, url)
        return super().request(method, url, *args, **kwargs)


def _client(account_sid: str, auth_token: str) -> Client:
    http = _BaseUrlHttpClient(base_url=settings.CLARM_TWILIO_API_URL, timeout=TIMEOUT_SECONDS)
    return Client(account_sid, auth_token, http_client=http)


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


def message_create(
    *,
    account_sid: str,
    auth_token: str,
    from_: str,
    to: str,
    body: str,
    status_callback: str = "",
    content_sid: str = "",
    content_variables: str = "",
) -> SentMessage:
    """Send a message; with `content_sid` an approved Content Template (WhatsApp outside the 24-hour
    window) is sent with `content_variables` (a JSON object as text) and no Body, as Twilio requires."""
    fields: dict[str, Any] = {"to": to, "from_": from_, "status_callback": status_callback or None}
    if content_sid:
        fields["content_sid"] = content_sid
        if content_variables:
            fields["content_variables"] = content_variables
    else:
        fields["body"] = body
    try:
        message = _client(account_sid, auth_token).messages.create(**fields)
    except TwilioRestException as exc:
        if exc.status >= 500 or exc.status == 429:
            raise TwilioUnavailable(f"Twilio answered {exc.status}: {exc.msg}") from exc
        raise TwilioSendError(f"Twilio refused the message ({exc.code}): {exc.msg}") from exc
    except (TwilioException, OSError) as exc:
        raise TwilioUnavailable(str(exc)) from exc
    return SentMessage(sid=str(message.sid), status=str(message.status or "queued"))


def account_check(*, account_sid: str, auth_token: str) -> tuple[bool, str]:
    try:
        account = _client(account_sid, auth_token).api.v2010.accounts(account_sid).fetch()
    except TwilioRestException as exc:
        return False, f"Twilio refused the credentials ({exc.status}): {exc.msg}"[:300]
    except (TwilioException, OSError) as exc:
        return False, f"Twilio could not be reached: {exc}"[:300]
    return True, f"Twilio answered: account “{account.friendly_name}” is {account.status}."


def signature_valid(*, auth_token: str, url: str, params: Mapping[str, Any] | str, signature: str) -> bool:
    """The SDK's check: `params` are the form parameters (a QueryDict keeps repeated ones), or the raw
    body of a JSON webhook, whose SHA-256 the URL carries as `?bodySHA256=` (then the URL alone is
    signed)."""
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def signature_compute(*, auth_token: str, url: str, params: dict[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature (used by tests and the docs' examples)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))
