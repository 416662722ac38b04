import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import stripe
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from identity.models import Customer
from integrations.inbound import timestamped_hmac_header
from integrations.services import connection_save
from integrations.twilio.client import signature_compute
from tracking import network
from tracking.models import Event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"

STRIPE_SECRET = "whsec_test_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TWILIO_SID = "AC3f8e2d1c0b9a8f7e6d5c4b3a2f1e0d9c"
TWILIO_TOKEN = "f1e2d3c4b5a69788796a5b4c3d2e1f00"
CALENDLY_KEY = "calendly-signing-key-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    network._salts.clear()
    yield
    network._salts.clear()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str):
    return json.loads(fixture_text(name))


# --- signing, exactly as each provider does ------------------------------------------------------


def stripe_header(payload: str, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """As stripe-python's own test helper `generate_header` builds it."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{payload}", secret)
    return f"t={t},{stripe.WebhookSignature.EXPECTED_SCHEME}={signature}"


class SendGridKeys:
    """An ECDSA P-256 key pair like SendGrid's: the public half is the 'verification key'."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.verification_key = base64.b64encode(der).decode()

    def sign(self, payload: str, timestamp: str) -> str:
        signature = self.private.sign((timestamp + payload).encode(), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


# --- posting -------------------------------------------------------------------------------------


@pytest.fixture
def hook(client, django_capture_on_commit_callbacks):
    """POST to a webhook URL and run the after-commit work (processing) as production would."""

    def post(path: str, body: str, content_type: str = "application/json", **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data=body, content_type=content_type, **headers)

    return post


@pytest.fixture
def post_stripe(hook):
    def post(workspace, payload: str, *, secret: str = STRIPE_SECRET, header: str | None = None):
        return hook(
            f"/hooks/stripe/{workspace.slug}/",
            payload,
            HTTP_STRIPE_SIGNATURE=header if header is not None else stripe_header(payload, secret),
        )

    return post


@pytest.fixture
def post_twilio(hook):
    def post(workspace, params: dict, *, token: str = TWILIO_TOKEN, signature: str | None = None):
        path = f"/hooks/twilio/{workspace.slug}/"
        url = settings.CLARM_PUBLIC_URL + path
        sig = signature if signature is not None else signature_compute(auth_token=token, url=url, params=params)
        return hook(path, urlencode(params), "application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=sig)

    return post


@pytest.fixture
def post_signed(hook):
    """Calendly (`Calendly-Webhook-Signature`) and generic (`X-Clarm-Signature`) share one scheme."""

    def post(provider, workspace, payload: str, *, secret: str, timestamp: int | None = None, header=None):
        meta_name = "HTTP_CALENDLY_WEBHOOK_SIGNATURE" if provider == "calendly" else "HTTP_X_CLARM_SIGNATURE"
        value = (
            header if header is not None else timestamped_hmac_header(body=payload, secret=secret, timestamp=timestamp)
        )
        return hook(f"/hooks/{provider}/{workspace.slug}/", payload, **{meta_name: value})

    return post


# --- connections ---------------------------------------------------------------------------------


@pytest.fixture
def stripe_a(tenant):
    return connection_save(
        workspace=tenant.workspace,
        provider="stripe",
        values={"api_key": "sk_test_51Abc", "webhook_secret": STRIPE_SECRET},
        actor=tenant.owner,
    )


@pytest.fixture
def twilio_a(tenant):
    return connection_save(
        workspace=tenant.workspace,
        provider="twilio",
        values={
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "sms_from": "+14155550100",
            "whatsapp_from": "+14155238886",
        },
        actor=tenant.owner,
    )


@pytest.fixture
def sendgrid_keys():
    return SendGridKeys()


@pytest.fixture
def sendgrid_a(tenant, sendgrid_keys):
    return connection_save(
        workspace=tenant.workspace,
        provider="sendgrid",
        values={"verification_key": sendgrid_keys.verification_key},
        actor=tenant.owner,
    )


@pytest.fixture
def calendly_a(tenant):
    return connection_save(
        workspace=tenant.workspace, provider="calendly", values={"signing_key": CALENDLY_KEY}, actor=tenant.owner
    )


@pytest.fixture
def generic_a(tenant):
    return connection_save(workspace=tenant.workspace, provider="generic", values={}, actor=tenant.owner)


# --- reading back --------------------------------------------------------------------------------


def timeline(customer: Customer) -> list[Event]:
    return list(Event.objects.filter(customer=customer).order_by("occurred_at", "id"))


def customer_of(workspace, message_id: str | None) -> Customer:
    event = Event.objects.get(workspace=workspace, message_id=message_id)
    customer = event.customer
    assert customer is not None
    while customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


# --- a local HTTP server standing in for a provider's API ---------------------------------------


class ProviderApi:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.body: dict | list = {}
        # An answer that is not JSON (sent as is instead of `body`), and a pause before answering.
        self.raw: bytes | None = None
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": self.rfile.read(length).decode() if length else "",
                    }
                )
                body = outer.body
                data = outer.raw if outer.raw is not None else json.dumps(body).encode()
                if outer.delay:  # (sleep(0) fails under libfaketime, which the suite is also run with)
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider_api():
    api = ProviderApi()
    yield api
    api.stop()
