"""The only module that talks to the SendGrid SDK (every request with a timeout).

Mail itself goes out through Django's email backend (SendGrid's SMTP relay in production); this module
verifies the signed Event Webhook and checks an API key.
"""

from django.conf import settings
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook

TIMEOUT_SECONDS = 10


class VerificationKeyInvalid(Exception):
    pass


def _verifier(verification_key: str) -> EventWebhook:
    try:
        return EventWebhook(verification_key.strip())
    except (ValueError, TypeError) as exc:
        raise VerificationKeyInvalid("The verification key is not a valid base64 EC public key.") from exc


def signature_valid(*, verification_key: str, payload: str, signature: str, timestamp: str) -> bool:
    try:
        return bool(_verifier(verification_key).verify_signature(payload, signature, timestamp))
    except (VerificationKeyInvalid, ValueError, TypeError):
        # A bad stored key, undecodable base64 or a malformed DER signature: not a valid signature.
        return False


def account_check(*, api_key: str, verification_key: str) -> tuple[bool, str]:
    try:
        _verifier(verification_key)
    except VerificationKeyInvalid as exc:
        return False, str(exc)
    if not api_key:
        return True, "Verification key is valid (add an API key to test API access)."
    host = settings.CLARM_SENDGRID_API_URL.rstrip("/")
    client = SendGridAPIClient(api_key=api_key, host=host)
    client.client.timeout = TIMEOUT_SECONDS
    try:
        response = client.client.scopes.get()
    except HTTPError as exc:
        return False, f"SendGrid refused the API key ({exc.status_code})."
    except OSError as exc:
        return False, f"SendGrid could not be reached: {exc}"[:300]
    return True, f"SendGrid answered ({response.status_code}); verification key is valid."
