"""The chat widget's public endpoints: config, a visitor's message in, polling, replies out, scoping."""

import json
import uuid

import pytest
from django.urls import reverse

from agents.models import Channel, ChatWidget, Conversation, Direction, Message, MessageStatus, WidgetSession
from agents.services import conversation_reply
from agents.webchat import widget_save
from identity.models import Customer
from integrations.services import IntegrationInputError
from tracking.models import Event, Source

pytestmark = pytest.mark.django_db
V, M = "v-" + "a" * 10, "m-" + "a" * 10


def _on(workspace, **kw):
    return widget_save(
        workspace=workspace,
        enabled=kw.get("enabled", True),
        color=kw.get("color", "#0a7d4f"),
        greeting=kw.get("greeting", "Hello from Acme!"),
    )


def _post(client, name, key, body, **headers):
    return client.post(
        reverse(f"agents:{name}") + f"?key={key}", data=json.dumps(body), content_type="text/plain", **headers
    )


def _say(client, key, text, *, visitor="v-" + "a" * 10, token=None, **headers):
    body = {"visitor_id": visitor, "session_id": "s-" + "b" * 10, "message_id": uuid.uuid4().hex, "body": text}
    if token:
        body["token"] = token
    return _post(client, "api_widget_messages", key, body, **headers)


def _poll(client, key, token, after=0):
    return _post(client, "api_widget_poll", key, {"token": token, "after": after})


def test_config_says_off_until_switched_on_then_gives_colour_and_greeting(client, tenant):
    url = reverse("agents:api_widget") + f"?key={tenant.write_key}"
    assert client.get(url).json() == {"enabled": False}
    _on(tenant.workspace)
    answer = client.get(url).json()
    assert answer == {"enabled": True, "name": "Acme Movers", "color": "#0a7d4f", "greeting": "Hello from Acme!"}
    assert client.get(reverse("agents:api_widget") + "?key=wk_nope").status_code == 401


def test_a_message_lands_on_the_visitors_timeline_and_in_the_inbox(client, tenant):
    _on(tenant.workspace)
    answer = _say(client, tenant.write_key, "Do you move pianos?")
    assert answer.status_code == 201, answer.content
    token = answer.json()["token"]
    message = Message.objects.get(workspace=tenant.workspace)
    assert (message.channel, message.direction, message.body) == (Channel.WEB, Direction.IN, "Do you move pianos?")
    event = Event.objects.get(workspace=tenant.workspace, event="message_sent")
    assert event.source == Source.WEB and event.customer_id == message.customer_id
    assert event.properties["body"] == "Do you move pianos?"
    # the same browser's page views are on the same customer (its device id)
    assert WidgetSession.objects.get(workspace=tenant.workspace).customer_id == message.customer_id
    # the second message reuses the chat; no new token
    again = _say(client, tenant.write_key, "Up two floors", token=token)
    assert again.status_code == 201 and "token" not in again.json()
    assert WidgetSession.objects.count() == 1
    polled = _poll(client, tenant.write_key, token).json()
    assert [m["body"] for m in polled["messages"]] == ["Do you move pianos?", "Up two floors"]
    assert polled["ask"] is None


def test_a_retried_message_is_stored_once(client, tenant):
    _on(tenant.workspace)
    body = {"visitor_id": "v-" + "c" * 10, "message_id": "m-" + "d" * 10, "body": "Hi"}
    first = _post(client, "api_widget_messages", tenant.write_key, body)
    body["token"] = first.json()["token"]
    assert _post(client, "api_widget_messages", tenant.write_key, body).status_code == 201
    assert Message.objects.filter(workspace=tenant.workspace).count() == 1
    assert Event.objects.filter(workspace=tenant.workspace, event="message_sent").count() == 1


def test_a_team_reply_reaches_the_widget_and_is_marked_delivered(client, tenant, django_capture_on_commit_callbacks):
    _on(tenant.workspace)
    token = _say(client, tenant.write_key, "Are you open Sunday?").json()["token"]
    customer = Message.objects.get().customer
    with django_capture_on_commit_callbacks(execute=True):
        reply = conversation_reply(workspace=tenant.workspace, customer=customer, body="Yes, 9 to 5.")
    assert reply.channel == Channel.WEB and reply.status == MessageStatus.SENT
    first_id = Message.objects.filter(direction=Direction.IN).get().pk
    polled = _poll(client, tenant.write_key, token, after=first_id).json()
    assert [(m["body"], m["from"]) for m in polled["messages"]] == [("Yes, 9 to 5.", "team")]
    reply.refresh_from_db()
    assert reply.status == MessageStatus.DELIVERED
    sent = Event.objects.get(workspace=tenant.workspace, event="message_sent", source=Source.CHANNEL)
    assert sent.customer_id == customer.pk and sent.properties["channel"] == "web"


def test_web_reply_needs_a_chat(tenant):
    customer = Customer.objects.create(workspace=tenant.workspace, email="x@example.com")
    with pytest.raises(IntegrationInputError, match="no web chat"):
        conversation_reply(workspace=tenant.workspace, customer=customer, body="hi", channel="web")


def test_the_widget_asks_for_an_email_once_the_chat_is_handed_to_a_person(client, tenant):
    _on(tenant.workspace)
    token = _say(client, tenant.write_key, "I want to talk to someone").json()["token"]
    Conversation.objects.filter(workspace=tenant.workspace).update(needs_human=True)
    assert _poll(client, tenant.write_key, token).json()["ask"] == "email"
    session = WidgetSession.objects.get()
    Customer.objects.filter(pk=session.customer_id).update(email="dana@example.com")
    assert _poll(client, tenant.write_key, token).json()["ask"] is None


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"visitor_id": "v-" + "a" * 10, "message_id": "m-" + "a" * 10, "body": "  "},
            400,
            "body: the message is empty",
        ),
        ({"visitor_id": "v-" + "a" * 10, "message_id": "m-" + "a" * 10, "body": "x" * 2001}, 400, "at most 2000"),
        ({"visitor_id": "bad id!", "message_id": "m-" + "a" * 10, "body": "hi"}, 400, "visitor_id must be"),
        ({"visitor_id": "v-" + "a" * 10, "body": "hi"}, 400, "message_id must be"),
        ({"visitor_id": "v-" + "a" * 10, "message_id": "m-" + "a" * 10, "body": 5}, 400, "body: the message is empty"),
        ({"token": "t" * 30, "message_id": "m-" + "a" * 10, "body": "hi"}, 401, "Unknown chat token"),
    ],
)
def test_bad_messages_are_refused_naming_the_problem(client, tenant, body, status, error):
    _on(tenant.workspace)
    answer = _post(client, "api_widget_messages", tenant.write_key, body)
    assert answer.status_code == status
    assert error in answer.json()["error"]
    assert not Message.objects.exists()


def test_bad_polls_and_methods(client, tenant):
    _on(tenant.workspace)
    token = _say(client, tenant.write_key, "hello").json()["token"]
    assert _post(client, "api_widget_poll", tenant.write_key, {"token": token, "after": "x"}).status_code == 400
    assert _post(client, "api_widget_poll", tenant.write_key, {"after": 0}).status_code == 401
    bad_json = client.post(
        reverse("agents:api_widget_poll") + f"?key={tenant.write_key}", data="{", content_type="text/plain"
    )
    assert bad_json.status_code == 400 and "Malformed JSON" in bad_json.json()["error"]
    got = client.get(reverse("agents:api_widget_poll") + f"?key={tenant.write_key}")
    assert got.status_code == 405


def test_switched_off_widget_takes_no_message(client, tenant):
    _on(tenant.workspace, enabled=False)
    answer = _say(client, tenant.write_key, "hello?")
    assert answer.status_code == 403 and "switched off" in answer.json()["error"]
    assert not Message.objects.exists() and not Event.objects.exists()


def test_gpc_browser_gets_no_chat_and_nothing_is_stored(client, tenant):
    _on(tenant.workspace)
    answer = _say(client, tenant.write_key, "hello", HTTP_SEC_GPC="1")
    assert answer.status_code == 403 and "Global Privacy Control" in answer.json()["error"]
    assert not Message.objects.exists() and not Event.objects.exists()
    config = client.get(reverse("agents:api_widget") + f"?key={tenant.write_key}", HTTP_SEC_GPC="1")
    assert config.status_code == 403


def test_a_token_reads_only_its_own_chat(client, tenant):
    """Two visitors of one workspace: each token sees its own messages, never the other's."""
    _on(tenant.workspace)
    mine = _say(client, tenant.write_key, "mine", visitor="v-" + "1" * 10).json()["token"]
    theirs = _say(client, tenant.write_key, "theirs", visitor="v-" + "2" * 10).json()["token"]
    assert [m["body"] for m in _poll(client, tenant.write_key, mine).json()["messages"]] == ["mine"]
    assert [m["body"] for m in _poll(client, tenant.write_key, theirs).json()["messages"]] == ["theirs"]


def test_another_workspaces_key_cannot_use_a_chat_token(client, tenant, other_tenant):
    """Tenant isolation: workspace B's write key with A's token is refused, and nothing changes."""
    _on(tenant.workspace)
    _on(other_tenant.workspace)
    token = _say(client, tenant.write_key, "private question").json()["token"]
    before = list(Message.objects.values_list("pk", "status", "body"))
    assert _poll(client, other_tenant.write_key, token).status_code == 401
    answer = _say(client, other_tenant.write_key, "injected", token=token)
    assert answer.status_code == 401
    assert list(Message.objects.values_list("pk", "status", "body")) == before
    assert not Event.objects.filter(workspace=other_tenant.workspace).exists()
    assert not ChatWidget.objects.filter(workspace=other_tenant.workspace, enabled=False).exists()
