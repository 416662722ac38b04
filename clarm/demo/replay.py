"""Replaying the demo's steps through the real ingest and webhook code, in-process.

- track: `POST /api/track` with the write key, a batch at a time (django.test.Client, so the HTTP
  layer and validation run), from the person's own address (country and network come from it);
- stripe, calendly, sendgrid, generic, twilio_message, twilio_call: the provider's signed webhook,
  posted to `/hooks/<provider>/<workspace>/` and signed as the provider signs (the demo's connections
  hold the secrets), then processed as the worker would (`delivery_process`, idempotent: the queued
  task finds it done). Twilio's webhooks carry no event time (the receiver stamps the arrival), so a
  delivery replayed from the past is stamped with its step's time before it is processed, and the
  message it files is dated then too;
- reply: a message the business sent (agents.messaging.message_outbound_record);
- channel: `integrations.events.event_record`, the door the link and Twilio receivers use.

Appended events are stitched in this process (identity's `workspace_stitch`, the stitcher's own code)
before anything that needs their customer, so each person's ladder is climbed in the order it happened.
"""

import base64
import datetime
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse

from agents.messaging import message_outbound_record
from agents.models import Message
from agents.runner import workspace_scan
from clarm.demo.business import BUSINESS_PHONE, Person, Step
from identity.selectors import customer_find_by_identifier
from identity.stitching.stitcher import workspace_stitch
from integrations.deliveryprocess import delivery_process
from integrations.events import event_record, recorded_event
from integrations.models import Connection, WebhookDelivery
from integrations.services import connection_save
from integrations.stripe import client as stripe_client
from integrations.twilio.client import signature_compute
from tracking.http import MAX_EVENTS
from tracking.models import Source
from workspaces.models import Workspace

# Events per track request: under the API's 500 and its 500 KB body.
TRACK_BATCH = min(MAX_EVENTS, 200)
CURVE_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256


@dataclass
class DemoResult:
    accepted: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoSecrets:
    stripe: str
    calendly: str
    generic: str
    twilio_sid: str
    twilio_token: str
    sendgrid: ec.EllipticCurvePrivateKey | None  # None: the stored verification key is not the demo's


def _derived(workspace: Workspace, name: str) -> str:
    """A secret of the demo's own connections, the same on every run of this workspace."""
    return hmac.new(workspace.identifier_key.encode(), f"demo:{name}".encode(), hashlib.sha256).hexdigest()


def _sendgrid_key(workspace: Workspace) -> tuple[ec.EllipticCurvePrivateKey, str]:
    secret = int(_derived(workspace, "sendgrid"), 16) % (CURVE_ORDER - 1) + 1
    private = ec.derive_private_key(secret, ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


def demo_connections(workspace: Workspace) -> DemoSecrets:
    """The demo's provider connections (made once; connections the owner set up are used as they are).
    Twilio has no sender number, so nothing is ever sent to Twilio from the demo."""
    stored = {c.provider: c.credentials for c in Connection.objects.filter(workspace=workspace)}
    private, verification_key = _sendgrid_key(workspace)
    wanted = {
        "stripe": {"api_key": "sk_test_demo_not_a_real_key", "webhook_secret": "whsec_demo_" + workspace.slug},
        "twilio": {
            "account_sid": "ACdemo" + _derived(workspace, "sid")[:26],
            "auth_token": _derived(workspace, "twilio"),
        },
        "sendgrid": {"verification_key": verification_key},
        "calendly": {"signing_key": _derived(workspace, "calendly")},
        "generic": {},
    }
    for provider, values in wanted.items():
        if provider not in stored:
            stored[provider] = connection_save(
                workspace=workspace, provider=provider, values=values, actor=None
            ).credentials
    return DemoSecrets(
        stripe=str(stored["stripe"].get("webhook_secret", "")),
        calendly=str(stored["calendly"].get("signing_key", "")),
        generic=str(stored["generic"].get("secret", "")),
        twilio_sid=str(stored["twilio"].get("account_sid", "")),
        twilio_token=str(stored["twilio"].get("auth_token", "")),
        sendgrid=private if stored["sendgrid"].get("verification_key") == verification_key else None,
    )


def _host() -> str:
    """A host name ALLOWED_HOSTS accepts (the public URL's)."""
    return urlsplit(settings.CLARM_PUBLIC_URL).netloc or "127.0.0.1"


def _stamp(at: datetime.datetime) -> str:
    return at.astimezone(datetime.UTC).isoformat()


class Replay:
    def __init__(self, workspace: Workspace, write_key: str, result: DemoResult) -> None:
        self.workspace, self.write_key, self.result = workspace, write_key, result
        self.client = Client(HTTP_HOST=_host())
        self.secrets = demo_connections(workspace)
        self.hook = {p: reverse("integrations:hook", kwargs={"provider": p, "ws": workspace.slug}) for p in _DOORS}
        self.unstitched = False  # events appended since the last stitch of the workspace

    # --- people -----------------------------------------------------------------------------------

    def web_only(self, people: Iterable[Person]) -> None:
        """People whose story is only track events: batched by address, then stitched once."""
        by_ip: dict[str, list[Step]] = {}
        for person in people:
            by_ip.setdefault(person.ip, []).extend(person.steps)
        for ip, steps in by_ip.items():
            steps.sort(key=lambda step: step.at)
            for start in range(0, len(steps), TRACK_BATCH):
                self.track(steps[start : start + TRACK_BATCH], ip=ip)
        self.stitch()

    def story(self, steps: list[Step], *, ip: str = "127.0.0.1") -> None:
        """One person's (or a journey's) steps in the order given. Track events are sent together until
        a step of another door; that door's own ingest stitches everything pending of the workspace in
        the order it was appended (these events first), so their customer is there when it needs it.
        Consecutive SendGrid events go in one delivery, as SendGrid batches them."""
        pending: list[Step] = []
        index = 0
        while index < len(steps):
            step = steps[index]
            if step.kind == "track":
                pending.append(step)
                index += 1
                continue
            if pending:
                self.track(pending, ip=ip)
                pending = []
            if step.kind == "sendgrid":
                batch = [step]
                while index + len(batch) < len(steps) and steps[index + len(batch)].kind == "sendgrid":
                    batch.append(steps[index + len(batch)])
                self.sendgrid(batch)
                index += len(batch)
                continue
            _DOORS_BY_KIND[step.kind](self, step)
            index += 1
        if pending:
            self.track(pending, ip=ip)
        if self.unstitched:
            self.stitch()

    def stitch(self) -> None:
        workspace_stitch(self.workspace.pk)
        self.unstitched = False

    # --- doors ------------------------------------------------------------------------------------

    def track(self, steps: list[Step], *, ip: str) -> None:
        batch = [{**step.payload, "timestamp": _stamp(step.at)} for step in steps]
        self.unstitched = True
        response = self.client.post(
            "/api/track",
            data=json.dumps({"batch": batch}),
            content_type="application/json",
            HTTP_X_CLARM_KEY=self.write_key,
            REMOTE_ADDR=ip,
        )
        if response.status_code != 202:
            self.result.problems.append(f"track: HTTP {response.status_code} {response.content[:200]!r}")
            return
        answer = response.json()
        self.result.accepted += answer.get("accepted", 0)
        self.result.duplicates += answer.get("duplicates", 0)
        for rejected in answer.get("rejected") or []:
            self.result.problems.append(f"{batch[rejected['index']]['message_id']}: rejected {rejected}")

    def _post(self, provider: str, body: str, event_ids: list[str], **headers: Any) -> list[WebhookDelivery]:
        """Post a signed delivery; the newly stored deliveries (none when all were duplicates). Called
        inside a transaction, so the processing the receiver queues after commit finds them processed
        (or, replayed from the past, stamped with their time) whether the queue runs now or later."""
        content_type = headers.pop("content_type", "application/json")
        response = self.client.post(self.hook[provider], data=body, content_type=content_type, **headers)
        if response.status_code != 200:
            self.result.problems.append(
                f"{provider} {event_ids[0]}: HTTP {response.status_code} {response.content[:200]!r}"
            )
            return []
        fresh = list(
            WebhookDelivery.objects.filter(
                workspace=self.workspace, provider=provider, provider_event_id__in=event_ids, processed_at__isnull=True
            ).order_by("pk")
        )
        self.result.accepted += len(fresh)
        self.result.duplicates += len(event_ids) - len(fresh)
        return fresh

    def _process(self, deliveries: list[WebhookDelivery]) -> None:
        """Process as the worker would; each delivery's events are stitched with everything pending."""
        if deliveries:
            self.unstitched = False
        for delivery in deliveries:
            status = delivery_process(delivery_id=delivery.pk)
            if status != "processed":
                self.result.problems.append(f"{delivery.provider} {delivery.provider_event_id}: {status}")

    def stripe(self, step: Step) -> None:
        p = step.payload
        kind = p.get("type", "payment_intent.succeeded")
        if kind == "charge.refunded":
            obj: dict[str, Any] = {"object": "charge", "amount_refunded": p["amount"], "refunded": True}
        else:
            obj = {
                "object": "payment_intent",
                "amount": p["amount"],
                "amount_received": p["amount"],
                "status": "succeeded",
            }
        obj.update(
            id=p["pi"],
            currency="usd",
            customer=p["customer"],
            description=p.get("description", "Moving deposit"),
            receipt_email=p["email"],
            metadata={"clarm_visitor_id": p["visitor_id"]} if p.get("visitor_id") else {},
        )
        event = {
            "id": p["id"],
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(step.at.timestamp()),
            "type": kind,
            "livemode": False,
            "data": {"object": obj},
        }
        body = json.dumps(event)
        header = stripe_client.signature_header(payload=body, secret=self.secrets.stripe)
        with transaction.atomic():
            self._process(self._post("stripe", body, [p["id"]], HTTP_STRIPE_SIGNATURE=header))

    def _timestamped(self, secret: str, body: str) -> str:
        t = str(int(time.time()))
        return f"t={t},v1={hmac.new(secret.encode(), f'{t}.{body}'.encode(), hashlib.sha256).hexdigest()}"

    def calendly(self, step: Step) -> None:
        p = step.payload
        invitee = f"{p['uri']}/invitees/demo"
        payload: dict[str, Any] = {
            "uri": invitee,
            "email": p["email"],
            "name": p["name"],
            "created_at": _stamp(step.at),
            "updated_at": _stamp(step.at),
            "scheduled_event": {"name": p["meeting"], "start_time": _stamp(p["start"]), "uri": p["uri"]},
        }
        if p.get("phone"):
            payload["text_reminder_number"] = p["phone"]
        if p["event"] == "invitee.canceled":
            payload["cancellation"] = {"created_at": _stamp(step.at), "reason": "Our plans changed"}
        body = json.dumps({"event": p["event"], "created_at": _stamp(step.at), "payload": payload})
        header = self._timestamped(self.secrets.calendly, body)
        with transaction.atomic():
            self._process(
                self._post("calendly", body, [f"{p['event']}:{invitee}"], HTTP_CALENDLY_WEBHOOK_SIGNATURE=header)
            )

    def sendgrid(self, steps: list[Step]) -> None:
        if self.secrets.sendgrid is None:
            self.result.problems.append("sendgrid: the workspace's verification key is not the demo's; skipped")
            return
        items = [
            {
                "email": step.payload["email"],
                "timestamp": int(step.at.timestamp()),
                "event": step.payload["event"],
                "sg_event_id": f"demo-{step.payload['id']}",
                "sg_message_id": f"demo-{step.payload['id'].rsplit('-', 1)[0]}.filter",
                **({"url": step.payload["url"]} if step.payload.get("url") else {}),
            }
            for step in steps
        ]
        body = json.dumps(items)
        t = str(int(time.time()))
        signature = self.secrets.sendgrid.sign((t + body).encode(), ec.ECDSA(hashes.SHA256()))
        headers = {
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": base64.b64encode(signature).decode(),
            "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": t,
        }
        with transaction.atomic():
            self._process(self._post("sendgrid", body, [item["sg_event_id"] for item in items], **headers))

    def _twilio(self, params: dict[str, str], event_id: str, at: datetime.datetime) -> list[WebhookDelivery]:
        path = self.hook["twilio"]
        signature = signature_compute(
            auth_token=self.secrets.twilio_token, url=settings.CLARM_PUBLIC_URL + path, params=params
        )
        fresh = self._post(
            "twilio",
            urlencode(params),
            [event_id],
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
        # Twilio sends no event time: the receiver's arrival stamp is the time, so a replayed
        # delivery is stamped with the moment it replays.
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in fresh]).update(received_at=at)
        for delivery in fresh:
            delivery.received_at = at
        return fresh

    def twilio_message(self, step: Step) -> None:
        p = step.payload
        prefix = "whatsapp:" if p["channel"] == "whatsapp" else ""
        params = {
            "MessageSid": p["sid"],
            "AccountSid": self.secrets.twilio_sid,
            "From": prefix + p["phone"],
            "To": prefix + BUSINESS_PHONE,
            "Body": p["body"],
            "NumMedia": "0",
            "ProfileName": p["name"],
        }
        with transaction.atomic():
            fresh = self._twilio(params, p["sid"], step.at)
            self._process(fresh)
            Message.objects.filter(workspace=self.workspace, provider_message_id=p["sid"]).update(
                created_at=step.at, updated_at=step.at
            )
        if fresh:
            # The agents' scan a minute later, as the beat task runs it (the FAQ topics agent tags it).
            workspace_scan(workspace=self.workspace, now=step.at + datetime.timedelta(minutes=1))

    def twilio_call(self, step: Step) -> None:
        p = step.payload
        params = {
            "CallSid": p["sid"],
            "AccountSid": self.secrets.twilio_sid,
            "From": p["phone"],
            "To": BUSINESS_PHONE,
            "CallStatus": p["status"],
            "Direction": "inbound",
            **({"CallDuration": str(p["duration"])} if p["status"] == "completed" else {}),
        }
        with transaction.atomic():
            self._process(self._twilio(params, f"{p['sid']}:{p['status']}", step.at))

    def generic(self, step: Step) -> None:
        p = step.payload
        body = json.dumps(
            {
                "id": p["id"],
                "event": p["event"],
                "occurred_at": _stamp(step.at),
                "email": p["email"],
                "phone": p["phone"],
                "properties": {"title": f"Lead from {p['app']}", "app": p["app"], "name": p["name"]},
            }
        )
        header = self._timestamped(self.secrets.generic, body)
        with transaction.atomic():
            self._process(self._post("generic", body, [p["id"]], HTTP_X_CLARM_SIGNATURE=header))

    def reply(self, step: Step) -> None:
        p = step.payload
        sid = f"SMdemo-reply-{int(step.at.timestamp())}-{p['phone'][-4:]}"
        if Message.objects.filter(workspace=self.workspace, channel=p["channel"], provider_message_id=sid).exists():
            self.result.duplicates += 1
            return
        customer = customer_find_by_identifier(workspace=self.workspace, param="phone", value=p["phone"])
        if customer is None:
            self.result.problems.append(f"reply to {p['phone']}: no such customer")
            return
        self.unstitched = True
        message_outbound_record(
            workspace=self.workspace,
            customer=customer,
            channel=p["channel"],
            body=p["body"],
            at=step.at,
            provider_message_id=sid,
        )
        self.result.accepted += 1

    def channel(self, step: Step) -> None:
        p = step.payload
        message_id = f"demo:{p['message_id']}"
        if recorded_event(workspace=self.workspace, message_id=message_id) is not None:
            self.result.duplicates += 1
            return
        with transaction.atomic():
            event_record(
                workspace=self.workspace,
                provider="twilio",
                event=p["event"],
                source=p.get("source", Source.CHANNEL),
                message_id=message_id,
                occurred_at=step.at,
                properties=p.get("properties") or {},
                phone=p.get("phone"),
                phone_channel=True,
            )
        self.unstitched = False
        self.result.accepted += 1


_DOORS = ("stripe", "calendly", "sendgrid", "generic", "twilio")
_DOORS_BY_KIND = {
    "stripe": Replay.stripe,
    "calendly": Replay.calendly,
    "generic": Replay.generic,
    "twilio_message": Replay.twilio_message,
    "twilio_call": Replay.twilio_call,
    "reply": Replay.reply,
    "channel": Replay.channel,
}
