"""The only module that talks to the Stripe SDK (every call with a timeout)."""

import time
from typing import Any

import stripe
from django.conf import settings

TIMEOUT_SECONDS = 10
SIGNATURE_TOLERANCE_SECONDS = 300


class StripeSignatureError(Exception):
    pass


def _client(api_key: str) -> stripe.StripeClient:
    base = getattr(settings, "CLARM_STRIPE_API_BASE", "") or "https://api.stripe.com"
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base},
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=1,
    )


def account_check(*, api_key: str) -> tuple[bool, str]:
    try:
        balance = _client(api_key).v1.balance.retrieve()
    except stripe.StripeError as exc:
        return False, f"Stripe refused the key: {exc.user_message or exc}"[:300]
    mode = "live" if balance.to_dict().get("livemode") else "test"
    return True, f"Stripe answered ({mode} mode)."


def event_construct(*, payload: str, sig_header: str, secret: str) -> dict[str, Any]:
    """Verify `Stripe-Signature` with the SDK and return the event as plain data."""
    try:
        event = stripe.Webhook.construct_event(payload, sig_header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise StripeSignatureError(str(exc)) from exc
    return event.to_dict()


def signature_header(*, payload: str, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, computed as Stripe computes it (the demo data
    signs its sample deliveries with it, so they take the real verification path)."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{payload}", secret)
    return f"t={t},{stripe.WebhookSignature.EXPECTED_SCHEME}={signature}"
