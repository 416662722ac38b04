"""Probes of the chat widget's public endpoints from outside (issue 11's classes of bad input on the
newest write-key endpoints): every odd body is a 4xx naming the problem, never a server error."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Message, WidgetSession
from agents.webchat import widget_save

pytestmark = pytest.mark.django_db
V = "v-" + "a" * 10


@pytest.fixture
def raw_client() -> Client:
    return Client(raise_request_exception=False)


def _post(client, name, key, raw: str):
    return client.post(reverse(f"agents:{name}") + f"?key={key}", data=raw, content_type="text/plain")


def _start(client, tenant) -> str:
    widget_save(workspace=tenant.workspace, enabled=True, color="#0a7d4f", greeting="Hi")
    body = {"visitor_id": V, "message_id": "m-" + "1" * 10, "body": "Hello"}
    answer = _post(client, "api_widget_messages", tenant.write_key, json.dumps(body))
    assert answer.status_code == 201, answer.content
    return answer.json()["token"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"token": "\\ud800' + "a" * 20 + '", "after": 0}', "token contains an unpaired UTF-16 surrogate"),
        ('{"token": "TOKEN", "after": 18446744073709551616}', "after must be a message id"),
        ('{"token": "TOKEN", "after": 9223372036854775808}', "after must be a message id"),
    ],
    ids=["surrogate token", "after 2^64", "after 2^63"],
)
def test_odd_polls_are_a_400_naming_the_problem(raw_client, tenant, body, error):
    token = _start(raw_client, tenant)
    answer = _post(raw_client, "api_widget_poll", tenant.write_key, body.replace("TOKEN", token))
    assert answer.status_code == 400, answer.content
    assert error in answer.json()["error"]


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "a NUL \u0000 in the text"},
        {"body": "a lone surrogate \ud800 in the text"},
        {"token": "\ud800" + "a" * 20},
        {"message_id": "\u0000" * 10},
    ],
    ids=["NUL body", "surrogate body", "surrogate token", "NUL message id"],
)
def test_unstorable_text_in_a_message_is_a_400_and_stores_nothing(raw_client, tenant, fields):
    _start(raw_client, tenant)
    body = {"visitor_id": V, "message_id": "m-" + "2" * 10, "body": "Hi", **fields}
    answer = _post(raw_client, "api_widget_messages", tenant.write_key, json.dumps(body))
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"].startswith(f"The body cannot be stored: {next(iter(fields))} contains")
    assert Message.objects.count() == 1


def test_another_browser_sending_the_same_message_id_cannot_claim_the_message(raw_client, tenant):
    """Dedupe keys are per sender (issue 11, item 1's class): the widget keyed a message by the id the
    browser chose alone, so a second browser sending that id got the first visitor's message back, a
    chat token on the first visitor's customer (their later replies), and its own message was lost."""
    widget_save(workspace=tenant.workspace, enabled=True, color="#0a7d4f", greeting="Hi")
    first = {"visitor_id": "visitor-aaaa", "message_id": "shared-msg-1", "body": "my private question"}
    second = {"visitor_id": "visitor-bbbb", "message_id": "shared-msg-1", "body": "hello"}
    a = _post(raw_client, "api_widget_messages", tenant.write_key, json.dumps(first))
    b = _post(raw_client, "api_widget_messages", tenant.write_key, json.dumps(second))
    assert a.status_code == b.status_code == 201
    assert b.json()["message"]["body"] == "hello"
    sessions = {s.visitor_id: s.customer_id for s in WidgetSession.objects.all()}
    assert sessions["visitor-aaaa"] != sessions["visitor-bbbb"]
    assert sorted(Message.objects.values_list("body", flat=True)) == ["hello", "my private question"]
    # The same browser's retry is still stored once.
    again = _post(raw_client, "api_widget_messages", tenant.write_key, json.dumps(second))
    assert again.status_code == 201 and again.json()["message"]["id"] == b.json()["message"]["id"]
    assert Message.objects.count() == 2
