"""The only module that talks to the Stripe SDK (every call with a timeout)."""

import time

import stripe
from django.conf import settings

TIMEOUT_SECONDS = 10


class StripeSignatureError(Exception):
    pass


def _client(api_key: str) -> stripe.StripeClient:
    base = settings.CLARM_STRIPE_API_URL.rstrip("/")
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


def signature_verify(*, payload: str, sig_header: str, secret: str) -> int:
    """Verify `Stripe-Signature` over the body with the SDK; returns the signed unix time. The replay
    window is the one every provider shares (integrations.inbound): the SDK's own check looks only
    into the past, so it is not asked for one here."""
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance=None)
        timestamp, _ = stripe.WebhookSignature._get_timestamp_and_signatures(
            sig_header, stripe.WebhookSignature.EXPECTED_SCHEME
        )
    except stripe.SignatureVerificationError as exc:
        raise StripeSignatureError(str(exc)) from exc
    return int(timestamp)


def signature_header(*, payload: str, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, computed as Stripe computes it (the demo data
    signs its sample deliveries with it, so they take the real verification path)."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{payload}", secret)
    return f"t={t},{stripe.WebhookSignature.EXPECTED_SCHEME}={signature}"
