"""What each provider needs to connect (credential fields) and how its connection is tested."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from integrations.calendly import client as calendly_client
from integrations.sendgrid import client as sendgrid_client
from integrations.stripe import client as stripe_client
from integrations.twilio import client as twilio_client


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    required: bool = True
    secret: bool = True
    help: str = ""


@dataclass(frozen=True)
class ProviderSpec:
    key: str
    name: str
    fields: tuple[CredentialField, ...]
    test: Callable[[dict[str, Any]], tuple[bool, str]]
    help: str = ""
    # A signing secret Clarm generates for the customer to paste into the sender (generic webhook).
    generated_secret: str = ""
    shown: tuple[str, ...] = field(default_factory=tuple)


def _stripe_test(creds: dict[str, Any]) -> tuple[bool, str]:
    return stripe_client.account_check(api_key=creds["api_key"])


def _twilio_test(creds: dict[str, Any]) -> tuple[bool, str]:
    return twilio_client.account_check(account_sid=creds["account_sid"], auth_token=creds["auth_token"])


def _sendgrid_test(creds: dict[str, Any]) -> tuple[bool, str]:
    return sendgrid_client.account_check(api_key=creds.get("api_key", ""), verification_key=creds["verification_key"])


def _calendly_test(creds: dict[str, Any]) -> tuple[bool, str]:
    return calendly_client.account_check(api_token=creds.get("api_token", ""))


def _generic_test(creds: dict[str, Any]) -> tuple[bool, str]:
    return bool(creds.get("secret")), "Signing secret ready: sign each request as described in the docs."


PROVIDERS: dict[str, ProviderSpec] = {
    "stripe": ProviderSpec(
        key="stripe",
        name="Stripe",
        help="Payments, checkouts, invoices, refunds and subscriptions. Add an endpoint in Stripe → Developers → "
        "Webhooks with the URL below and paste its signing secret.",
        fields=(
            CredentialField("api_key", "Secret or restricted API key (sk_… / rk_…)"),
            CredentialField("webhook_secret", "Webhook signing secret (whsec_…)"),
        ),
        test=_stripe_test,
    ),
    "twilio": ProviderSpec(
        key="twilio",
        name="Twilio (SMS, WhatsApp, voice)",
        help="Set the URL below as the messaging webhook, the status callback and the voice status callback of "
        "your number (and WhatsApp sender).",
        fields=(
            CredentialField("account_sid", "Account SID (AC…)", secret=False),
            CredentialField("auth_token", "Auth token"),
            CredentialField("sms_from", "SMS sender number (E.164)", required=False, secret=False),
            CredentialField("whatsapp_from", "WhatsApp sender number (E.164)", required=False, secret=False),
        ),
        test=_twilio_test,
        shown=("account_sid", "sms_from", "whatsapp_from"),
    ),
    "sendgrid": ProviderSpec(
        key="sendgrid",
        name="SendGrid (email events)",
        help="Enable the signed Event Webhook (Mail Settings → Event Webhook → Signature verification), "
        "paste its verification key, and point it at the URL below. Mail is sent through Django's email "
        "backend (SendGrid SMTP relay: see docs/integrations.md).",
        fields=(
            CredentialField("verification_key", "Event Webhook verification key (base64 public key)", secret=False),
            CredentialField("api_key", "API key (SG.…, for the connection test)", required=False),
        ),
        test=_sendgrid_test,
    ),
    "calendly": ProviderSpec(
        key="calendly",
        name="Calendly",
        help="Create a webhook subscription (invitee.created, invitee.canceled, invitee_no_show.created) with "
        "the URL below and your signing key.",
        fields=(
            CredentialField("signing_key", "Webhook signing key"),
            CredentialField("api_token", "Personal access token (for the connection test)", required=False),
        ),
        test=_calendly_test,
    ),
    "generic": ProviderSpec(
        key="generic",
        name="Generic signed webhook",
        help="Any system can send events: sign each request with the secret below (see docs/integrations.md).",
        fields=(),
        test=_generic_test,
        generated_secret="secret",
        shown=("secret",),
    ),
}
