"""A workspace's own model endpoint: an inbound message no built-in agent answers is POSTed, signed,
to the owner's endpoint (a local server here that checks the signature as docs/agents.md tells a
receiver to, and records the request); its reply goes out over the person's channel (Twilio is a
local server too), its hand-off or any failure puts the thread in front of a person."""

import hashlib
import hmac
import json
import time

import pytest
from django.contrib.auth.models import User
from django.core import mail

from agents.models import ActionStatus, Conversation, Message, ModelEndpoint, ScheduledAction
from agents.runner import action_run
from agents.services import AgentInputError, agent_setting_save, model_endpoint_save
from agents.tasks import agents_tick
from identity.models import Customer
from integrations.optout import sms_opt_out
from integrations.services import connection_save
from tests.agents.helpers import inbound, person
from tests.factories import UserFactory, make_workspace
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN, ProviderApi
from tracking.models import Event
from workspaces.models import AuditLog, Membership, Role

SECRET = "clarm-model-secret-7f3a9c2e11d4"
PIANO = "Yes, we move pianos up to 300 kg. Want a quote?"


def signature_valid(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """What a receiver does (docs/agents.md): HMAC-SHA256 of "<t>." + the raw body, in constant time,
    and a timestamp within 5 minutes."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


class ModelEndpointStandIn(ProviderApi):
    """The owner's model endpoint on 127.0.0.1: 401 when the signature does not verify, else
    `answer_status` with `answer`."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.answer: dict = {"reply": PIANO}
        self.answer_status = 200

    @property
    def body(self) -> dict:
        request = self.requests[-1]
        if not signature_valid(request["headers"].get("X-Clarm-Signature", ""), request["body"].encode(), self.secret):
            self.status = 401
            return {"error": "bad signature"}
        self.status = self.answer_status
        return self.answer

    @body.setter
    def body(self, value: dict) -> None:
        pass

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def movers(db, settings):
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = True  # the stand-ins listen on 127.0.0.1
    workspace, owner, _, _ = make_workspace("Hudson Movers", timezone_name="America/New_York")
    connection_save(
        workspace=workspace,
        provider="twilio",
        values={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "sms_from": "+14155550100"},
        actor=owner,
    )
    return type("Tenant", (), {"workspace": workspace, "owner": owner})


@pytest.fixture
def model(movers):
    api = ModelEndpointStandIn(SECRET)
    model_endpoint_save(workspace=movers.workspace, enabled=True, url=f"{api.url}/clarm/answer", secret=SECRET)
    yield api
    api.stop()


def tick(capture) -> dict:
    with capture(execute=True):
        return agents_tick()


def settings_url(workspace) -> str:
    return f"/w/{workspace.slug}/settings/agents/"


def test_a_reply_from_the_endpoint_is_sent_by_sms_and_logged_once(
    movers, model, twilio, client, django_capture_on_commit_callbacks
):
    dana = person(movers.workspace)
    inbound(dana, "Hi there")
    asked = inbound(dana, "Do you move pianos?")
    model.answer = {"reply": PIANO, "action": "quote_sent", "properties": {"service": "piano"}}
    assert tick(django_capture_on_commit_callbacks)["done"] == 1
    # One signed request, for the later message (the earlier one is in its thread, not answered twice).
    [request] = model.requests
    assert request["method"] == "POST" and request["path"] == "/clarm/answer"
    assert request["headers"]["Content-Type"] == "application/json"
    payload = json.loads(request["body"])
    dana = Customer.objects.get(pk=dana.pk)
    assert set(payload) == {"version", "id", "workspace", "person", "channel", "message", "thread", "faq_topics"}
    assert payload["version"] == 1 and payload["id"] == f"clarm-message-{asked.pk}"
    assert payload["workspace"] == {
        "slug": movers.workspace.slug,
        "name": "Hudson Movers",
        "timezone": "America/New_York",
    }
    assert payload["person"] == {"id": dana.pk, "rung": 2}  # the form gave an email
    assert payload["channel"] == "sms"
    assert payload["message"]["id"] == asked.pk and payload["message"]["text"] == "Do you move pianos?"
    assert [(m["direction"], m["channel"], m["text"]) for m in payload["thread"]] == [("in", "sms", "Hi there")]
    assert payload["faq_topics"]["enabled"] is False and payload["faq_topics"]["topics"].startswith("Pricing:")
    # Nothing that names the person beyond their Clarm id.
    assert "dana.whitfield@example.com" not in request["body"] and "4155550123" not in request["body"]
    # The reply left by SMS, from the agent "model", with its events on the timeline.
    [text] = twilio.texts()
    assert text["To"] == "+14155550123" and text["Body"] == PIANO
    reply = Message.objects.get(direction="out")
    assert reply.agent == "model" and reply.status == "sent"
    replied = Event.objects.get(event="message_replied")
    assert replied.source == "agent" and replied.customer_id == dana.pk
    assert replied.properties["agent"] == "model" and replied.properties["in_reply_to"] == asked.pk
    quote = Event.objects.get(event="quote_sent")
    assert quote.source == "agent" and quote.properties["service"] == "piano"
    row = ScheduledAction.objects.get(agent="model", trigger=f"message:{asked.pk}")
    assert row.status == ActionStatus.DONE and row.message_id == reply.pk
    endpoint = ModelEndpoint.objects.get()
    assert endpoint.last_outcome == "reply" and endpoint.last_error == ""
    # Read again, and the same action retried: no second call, no second reply.
    tick(django_capture_on_commit_callbacks)
    assert action_run(action_id=row.pk, now=row.due_at) == "skipped"
    assert len(model.requests) == 1 and len(twilio.requests) == 1
    assert not Conversation.objects.get(customer=dana).needs_human
    client.force_login(movers.owner)
    assert 'data-model-status="reply"' in client.get(settings_url(movers.workspace)).content.decode()


def test_the_endpoint_hands_the_thread_to_a_person(movers, model, twilio, django_capture_on_commit_callbacks):
    dana = person(movers.workspace)
    inbound(dana, "Can you do a custom crate for a sculpture?")
    model.answer = {"handoff": True, "reason": "wants a custom quote"}
    tick(django_capture_on_commit_callbacks)
    assert len(model.requests) == 1 and twilio.requests == []
    assert Conversation.objects.get(customer=dana).needs_human
    handoff = Event.objects.get(event="handoff_requested")
    assert handoff.source == "agent" and handoff.properties["agent"] == "model"
    [notice] = mail.outbox
    assert "wants a custom quote" in notice.body
    assert ScheduledAction.objects.get(agent="model").status == ActionStatus.DONE
    assert ModelEndpoint.objects.get().last_outcome == "handoff"


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ("timeout", "No answer within 0.3 s."),
        ("bad_json", "The answer is not valid JSON."),
        ("http_500", "The endpoint answered HTTP 500."),
        ("too_long", "The answer's “reply” is longer than 1600 characters."),
        ("no_reply", "The answer has neither a “reply” nor “handoff”: true."),
        ("wrong_secret", "The endpoint answered HTTP 401."),
        ("ssrf", "Refused: The host 127.0.0.1 resolves to 127.0.0.1"),
    ],
)
def test_any_failure_hands_the_message_to_a_person_and_shows_the_owner_why(
    movers, model, twilio, client, settings, django_capture_on_commit_callbacks, failure, error
):
    settings.CLARM_AGENT_MODEL_TIMEOUT_SECONDS = 0.3
    if failure == "timeout":
        model.delay = 1.5
    elif failure == "bad_json":
        model.raw = b"<html>Internal error</html>"
    elif failure == "http_500":
        model.answer_status = 500
    elif failure == "too_long":
        model.answer = {"reply": "x" * 1601}
    elif failure == "no_reply":
        model.answer = {"action": "quote_sent"}
    elif failure == "wrong_secret":
        model.secret = "the-endpoint-expects-another-secret"
    elif failure == "ssrf":
        settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = False  # what a production install refuses
    dana = person(movers.workspace)
    inbound(dana, "Do you move pianos?")
    counts = tick(django_capture_on_commit_callbacks)
    assert counts["other"] == 1  # the action failed, the tick did not
    assert twilio.requests == [] and not Message.objects.filter(direction="out").exists()
    assert len(model.requests) == (0 if failure == "ssrf" else 1)
    # The Handoff agent took it: first in the Inbox, the owner mailed, `handoff_requested` logged.
    assert Conversation.objects.get(customer=dana).needs_human
    assert Event.objects.get(event="handoff_requested").properties["agent"] == "handoff"
    [notice] = mail.outbox
    assert "could not be answered by your model endpoint" in notice.body
    row = ScheduledAction.objects.get(agent="model")
    assert row.status == ActionStatus.FAILED and row.detail.startswith(error)
    endpoint = ModelEndpoint.objects.get()
    assert endpoint.last_outcome == "failed" and endpoint.last_error.startswith(error)
    client.force_login(movers.owner)
    page = client.get(settings_url(movers.workspace)).content.decode()
    assert "data-model-error" in page and 'data-model-status="failed"' in page


def test_a_person_who_replied_stop_gets_no_reply_and_is_not_sent_to_the_endpoint(
    movers, model, twilio, django_capture_on_commit_callbacks
):
    dana = person(movers.workspace)
    inbound(dana, "STOP")
    sms_opt_out(workspace=movers.workspace, customer=dana)
    later = inbound(dana, "What time tomorrow?")
    tick(django_capture_on_commit_callbacks)
    assert model.requests == [] and twilio.requests == []
    [row] = ScheduledAction.objects.filter(agent="model")  # the STOP itself is not the model's
    assert row.trigger == f"message:{later.pk}" and row.status == ActionStatus.CANCELLED
    assert "opted out" in row.detail


def test_a_request_for_a_person_goes_to_the_handoff_agent_not_the_endpoint(
    movers, model, twilio, django_capture_on_commit_callbacks
):
    agent_setting_save(workspace=movers.workspace, agent="handoff", enabled=True)
    asking = inbound(person(movers.workspace), "I want to talk to a real person")
    sam = person(movers.workspace, email="sam@example.com", phone="+14155550199", visitor="v2")
    inbound(sam, "Do you move pianos?")
    tick(django_capture_on_commit_callbacks)
    assert ScheduledAction.objects.get(agent="handoff").trigger == f"message:{asking.pk}"
    # Only Sam's question, which no rule answers, went to the endpoint.
    assert [(p["person"]["id"], p["message"]["text"]) for p in model.payloads()] == [(sam.pk, "Do you move pianos?")]
    assert [t["To"] for t in twilio.texts()] == ["+14155550199"]


def test_a_new_lead_is_qualified_by_the_qualify_agent_not_the_endpoint(
    movers, model, twilio, django_capture_on_commit_callbacks
):
    agent_setting_save(workspace=movers.workspace, agent="qualify", enabled=True)
    lead = person(movers.workspace, email="new@example.com", phone="+14155550177", visitor="v7")
    first = inbound(lead, "Hello, I need to move a flat")
    tick(django_capture_on_commit_callbacks)
    assert model.requests == []
    assert ScheduledAction.objects.get(agent="qualify").payload == {"channel": "sms", "message": first.pk}
    [question] = twilio.texts()
    assert question["To"] == "+14155550177" and "What can we help you with?" in question["Body"]
    assert not ScheduledAction.objects.filter(agent="model").exists()


def test_owner_sets_the_endpoint_secret_stored_encrypted_and_never_shown(movers, client):
    client.force_login(movers.owner)
    url = settings_url(movers.workspace)
    assert 'data-form="model"' in client.get(url).content.decode()
    response = client.post(
        url,
        {"form": "model", "enabled": "on", "url": "http://127.0.0.1:8713/answer", "secret": SECRET},
        follow=True,
    )
    assert "Model endpoint saved." in response.content.decode()
    endpoint = ModelEndpoint.objects.get(workspace=movers.workspace)
    assert endpoint.enabled and endpoint.url == "http://127.0.0.1:8713/answer" and endpoint.secret == SECRET
    assert SECRET not in endpoint.secret_encrypted and SECRET not in response.content.decode()
    # Saved again without a secret: the stored one is kept; switched off.
    client.post(url, {"form": "model", "url": "http://127.0.0.1:8713/v2", "secret": ""})
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.url == "http://127.0.0.1:8713/v2" and endpoint.secret == SECRET
    audit = AuditLog.objects.filter(workspace=movers.workspace, target="model_endpoint").order_by("pk")
    assert [a.action for a in audit] == ["agents.model_endpoint_set", "agents.model_endpoint_updated"]
    assert SECRET not in json.dumps([a.details for a in audit])
    # Staff see it in the admin, without the secret.
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for path in ("/admin/agents/modelendpoint/", f"/admin/agents/modelendpoint/{endpoint.pk}/change/"):
        page = client.get(path)
        assert page.status_code == 200 and "127.0.0.1:8713/v2" in page.content.decode()
        assert SECRET not in page.content.decode() and endpoint.secret_encrypted not in page.content.decode()


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("", SECRET, "Endpoint URL: enter the address"),
        ("http://models.example.com/answer", SECRET, "Endpoint URL: it must start with https://."),
        ("https://127.0.0.1/answer", SECRET, "a private, loopback, link-local or reserved address"),
        ("https://user:pw@example.com/answer", SECRET, "must not contain a user name or password"),
        ("https://169.254.169.254/latest", SECRET, "a private, loopback, link-local or reserved address"),
        ("https://93.184.215.14/answer", "short", "Secret: at least 16 characters."),
        ("https://93.184.215.14/answer", "", "Secret: enter the secret"),
    ],
)
def test_bad_endpoint_settings_say_what_is_wrong_and_change_nothing(movers, client, settings, url, secret, problem):
    settings.CLARM_ALLOW_PRIVATE_DESTINATIONS = False
    client.force_login(movers.owner)
    response = client.post(
        settings_url(movers.workspace), {"form": "model", "enabled": "on", "url": url, "secret": secret}, follow=True
    )
    assert response.status_code == 200
    assert "Model endpoint not saved: " in response.content.decode() and problem in response.content.decode()
    assert not ModelEndpoint.objects.exists()
    with pytest.raises(AgentInputError, match=r"^(Endpoint URL|Secret): "):
        model_endpoint_save(workspace=movers.workspace, enabled=True, url=url, secret=secret)


def test_members_and_other_workspaces_can_neither_see_nor_change_the_endpoint(movers, other_tenant, client):
    model_endpoint_save(workspace=movers.workspace, enabled=True, url="http://127.0.0.1:8713/answer", secret=SECRET)
    before = list(ModelEndpoint.objects.values())
    url = settings_url(movers.workspace)
    change = {"form": "model", "enabled": "", "url": "http://127.0.0.1:8714/steal", "secret": "another-secret-1234567"}
    member = User.objects.create_user("member", "member@example.com", "a long password 1")
    Membership.objects.create(workspace=movers.workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    assert client.get(url).status_code == 403
    assert client.post(url, change).status_code == 403
    client.force_login(other_tenant.owner)
    assert client.get(url).status_code == 404
    assert client.post(url, change).status_code == 404
    # Their own settings page shows nothing of it.
    assert "127.0.0.1:8713" not in client.get(settings_url(other_tenant.workspace)).content.decode()
    assert list(ModelEndpoint.objects.values()) == before
    assert not AuditLog.objects.filter(workspace=other_tenant.workspace, target="model_endpoint").exists()
