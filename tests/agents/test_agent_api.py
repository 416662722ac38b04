"""The Agent API and the conversations API, with the secret key, against real PostgreSQL/Redis and a
local HTTP server standing in for Twilio."""

import base64
import datetime
import re
from urllib.parse import parse_qs

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from agents.models import Conversation, Message, MessageStatus
from identity.models import Customer
from integrations.optout import sms_opt_out
from tests.agents.helpers import inbound, person, thread_of, twilio_accepts
from tests.integrations.conftest import TWILIO_SID, TWILIO_TOKEN
from tracking.models import Event


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post_action(client, key, body):
    return client.post("/api/agents/actions", data=body, content_type="application/json", **auth(key))


# --- POST /api/agents/actions --------------------------------------------------------------------


def test_agent_action_lands_on_the_customers_timeline_as_an_agent_event(tenant, client):
    customer = person(tenant.workspace)
    response = post_action(
        client,
        tenant.secret_key,
        {
            "customer": {"email": "Dana.Whitfield@example.com"},
            "agent": "qualify",
            "action": "lead_qualified",
            "properties": {"move_size": "3 bedrooms", "ready_to_book": True},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    event = Event.objects.get(pk=body["id"])
    assert body["customer"] == customer.pk and body["event"] == "lead_qualified"
    assert event.source == "agent" and event.customer_id == customer.pk
    assert event.properties == {"move_size": "3 bedrooms", "ready_to_book": True, "agent": "qualify"}
    # It reads as an agent action on the person's timeline (the read API).
    timeline = client.get(f"/api/customers/{customer.pk}/timeline", **auth(tenant.secret_key)).json()["results"]
    assert [e["title"] for e in timeline if e["source"] == "agent"] == ["Agent qualified the lead"]


@pytest.mark.parametrize(
    "ref",
    [{"phone": "(415) 555-0123"}, {"visitor_id": "dev-1"}],
)
def test_agent_action_finds_the_customer_by_phone_or_visitor_id(tenant, client, ref):
    customer = person(tenant.workspace)
    response = post_action(
        client, tenant.secret_key, {"customer": ref, "agent": "booking", "action": "booking_offered"}
    )
    assert response.status_code == 201, response.content
    assert Event.objects.get(pk=response.json()["id"]).customer_id == customer.pk


def test_agent_action_with_an_idempotency_key_is_logged_once(tenant, client):
    person(tenant.workspace)
    body = {
        "customer": {"email": "dana.whitfield@example.com"},
        "agent": "quotes",
        "action": "quote_sent",
        "properties": {"amount": 1800},
        "idempotency_key": "quote-42",
    }
    first = post_action(client, tenant.secret_key, body)
    again = post_action(client, tenant.secret_key, body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Event.objects.filter(event="quote_sent").count() == 1


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"agent": "qualify", "action": "lead_qualified"}, 400, "customer"),
        ({"customer": {}, "agent": "qualify", "action": "lead_qualified"}, 400, "exactly one"),
        (
            {"customer": {"email": "a@b.co", "phone": "+14155550123"}, "agent": "q", "action": "lead_qualified"},
            400,
            "exactly one",
        ),
        ({"customer": {"email": "not-an-email"}, "agent": "qualify", "action": "lead_qualified"}, 400, "email"),
        (
            {"customer": {"email": "dana.whitfield@example.com"}, "agent": "qualify", "action": "Lead Qualified!"},
            400,
            "snake_case",
        ),
        ({"customer": {"email": "dana.whitfield@example.com"}, "agent": "", "action": "lead_qualified"}, 400, "agent"),
        (
            {"customer": {"email": "dana.whitfield@example.com"}, "agent": "q", "action": "x", "properties": [1]},
            400,
            "properties",
        ),
        (
            {"customer": {"email": "nobody@example.com"}, "agent": "qualify", "action": "lead_qualified"},
            404,
            "No customer",
        ),
    ],
)
def test_bad_agent_actions_are_refused_naming_the_problem_and_store_nothing(tenant, client, body, status, names):
    person(tenant.workspace)
    before = Event.objects.count()
    response = post_action(client, tenant.secret_key, body)
    assert response.status_code == status, response.content
    assert names in response.json()["error"]
    assert Event.objects.count() == before


def test_agent_api_needs_the_secret_key(tenant, client):
    person(tenant.workspace)
    body = {"customer": {"email": "dana.whitfield@example.com"}, "agent": "q", "action": "lead_qualified"}
    assert client.post("/api/agents/actions", data=body, content_type="application/json").status_code == 401
    write = post_action(client, tenant.write_key, body)
    assert write.status_code == 401 and "write key" in write.json()["error"]
    assert not Event.objects.filter(source="agent").exists()


def test_another_workspace_cannot_log_on_this_workspaces_customer(tenant, other_tenant, client):
    customer = person(tenant.workspace)
    before = Event.objects.count()
    response = post_action(
        client,
        other_tenant.secret_key,
        {"customer": {"email": "dana.whitfield@example.com"}, "agent": "qualify", "action": "lead_qualified"},
    )
    assert response.status_code == 404
    assert Event.objects.count() == before
    assert not Customer.objects.filter(workspace=other_tenant.workspace).exists()
    assert not Event.objects.filter(customer=customer, source="agent").exists()


# --- GET /api/conversations ----------------------------------------------------------------------


def test_conversations_of_a_customer_one_per_channel_most_recent_first(tenant, client):
    customer = person(tenant.workspace)
    now = timezone.now()
    inbound(customer, "Do you move pianos?", channel="sms", at=now - datetime.timedelta(hours=2))
    inbound(customer, "Here are the photos", channel="email", at=now - datetime.timedelta(hours=1))
    inbound(customer, "Thanks!", channel="sms", at=now - datetime.timedelta(hours=3))
    response = client.get(f"/api/conversations?customer={customer.pk}", **auth(tenant.secret_key))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [(c["channel"], c["customer"], c["last_direction"]) for c in body["results"]] == [
        ("email", customer.pk, "in"),
        ("sms", customer.pk, "in"),
    ]


@pytest.mark.parametrize("query", ["", "?customer=", "?customer=abc", "?customer=-1"])
def test_conversations_list_names_a_bad_customer_parameter(tenant, client, query):
    response = client.get(f"/api/conversations{query}", **auth(tenant.secret_key))
    assert response.status_code == 400 and "customer" in response.json()["error"]


def test_conversations_of_another_workspaces_customer_are_not_there(tenant, other_tenant, client):
    customer = person(tenant.workspace)
    inbound(customer, "Hello")
    response = client.get(f"/api/conversations?customer={customer.pk}", **auth(other_tenant.secret_key))
    assert response.status_code == 404
    assert response.json()["error"] == f"No customer {customer.pk} in this workspace."


# --- POST /api/conversations/<id>/messages -------------------------------------------------------


def send(client, key, conversation_id, body, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            f"/api/conversations/{conversation_id}/messages", data=body, content_type="application/json", **auth(key)
        )


def test_reply_goes_out_through_twilio_and_lands_on_the_timeline(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "Can you move us on the 3rd?"))
    response = send(
        client,
        tenant.secret_key,
        conversation.pk,
        {"body": "Yes, the 3rd works: $1,800"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "sms" and response.json()["conversation"] == conversation.pk
    [request] = provider_api.requests
    assert request["method"] == "POST" and request["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert (
        request["headers"]["Authorization"]
        == "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    )
    form = parse_qs(request["body"])
    assert form["To"] == ["+14155550123"] and form["From"] == ["+14155550100"]
    assert form["Body"] == ["Yes, the 3rd works: $1,800"]
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == MessageStatus.SENT and message.direction == "out"
    sent = Event.objects.get(event="message_sent", customer=customer)
    assert sent.properties["message"] == message.pk


def test_reply_by_email_goes_out_as_mail(tenant, client, django_capture_on_commit_callbacks):
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "Quote please", channel="email"))
    response = send(
        client,
        tenant.secret_key,
        conversation.pk,
        {"body": "Here it is:\n$1,800 <all in>", "subject": "Your quote"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 201, response.content
    [sent] = mail.outbox
    assert isinstance(sent, EmailMultiAlternatives)
    assert sent.to == ["dana.whitfield@example.com"] and sent.subject == "Your quote"
    assert "$1,800 &lt;all in&gt;" in str(sent.alternatives[0][0])
    assert Event.objects.filter(event="email_sent", customer=customer).exists()


def test_whatsapp_reply_only_inside_the_24_hour_window(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    old = inbound(customer, "hi", channel="whatsapp", at=timezone.now() - datetime.timedelta(hours=30))
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(hours=30))
    conversation = thread_of(old)
    late = send(client, tenant.secret_key, conversation.pk, {"body": "Hello?"}, django_capture_on_commit_callbacks)
    assert late.status_code == 400 and "24-hour window" in late.json()["error"]
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()
    inbound(customer, "still there?", channel="whatsapp")
    ok = send(client, tenant.secret_key, conversation.pk, {"body": "Yes!"}, django_capture_on_commit_callbacks)
    assert ok.status_code == 201
    assert parse_qs(provider_api.requests[0]["body"])["To"] == ["whatsapp:+14155550123"]


def test_a_person_who_replied_stop_gets_nothing(tenant, twilio_a, provider_api, settings, client):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "STOP"))
    sms_opt_out(workspace=tenant.workspace, customer=customer)  # what the Twilio webhook does with STOP
    response = client.post(
        f"/api/conversations/{conversation.pk}/messages",
        data={"body": "Are you sure?"},
        content_type="application/json",
        **auth(tenant.secret_key),
    )
    assert response.status_code == 400 and "STOP" in response.json()["error"]
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()


def test_bad_message_bodies_are_refused_naming_the_field(tenant, twilio_a, client):
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "hi"))
    for body, names in (({}, "body"), ({"body": "   "}, "body"), ({"body": "x", "channel": "fax"}, "channel")):
        response = client.post(
            f"/api/conversations/{conversation.pk}/messages",
            data=body,
            content_type="application/json",
            **auth(tenant.secret_key),
        )
        assert response.status_code == 400 and response.json()["error"].startswith(names)
    assert not Message.objects.filter(direction="out").exists()


def test_another_workspace_cannot_send_in_this_workspaces_conversation(
    tenant, other_tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "hi"))
    response = send(
        client, other_tenant.secret_key, conversation.pk, {"body": "hi"}, django_capture_on_commit_callbacks
    )
    assert response.status_code == 404
    assert provider_api.requests == []
    assert not Message.objects.filter(direction="out").exists()
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == conversation.last_message_at


def test_the_openapi_schema_has_the_agent_and_conversation_operations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["paths"]["/api/agents/actions"]["post"]["operationId"] == "agents_actions_create"
    assert schema["paths"]["/api/conversations"]["get"]["operationId"] == "conversations_list"
    post = schema["paths"]["/api/conversations/{id}/messages"]["post"]
    assert post["operationId"] == "conversations_messages_create"
    assert set(post["responses"]) >= {"201", "400", "401", "404"}
    schemas = schema["components"]["schemas"]
    assert set(schemas["MessageIn"]["properties"]) == {"body", "channel", "subject", "template"}
    # A message needs a body or a WhatsApp template (checked by the view, named in the 400).
    assert "required" not in schemas["MessageIn"]
    assert schemas["WhatsAppTemplateIn"]["required"] == ["content_sid"]
    assert set(schemas["AgentActionIn"]["required"]) == {"customer", "agent", "action"}
    assert set(schemas["ConversationOut"]["properties"]) >= {"id", "customer", "channel", "last_message_at"}
    assert post["security"] == [{"secretKey": []}]


def test_links_in_a_text_reply_are_tracked_and_a_click_lands_on_the_person(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer = person(tenant.workspace)
    conversation = thread_of(inbound(customer, "Where do I book?"))
    response = send(
        client,
        tenant.secret_key,
        conversation.pk,
        {"body": "Book here: https://acme-movers.example/book. Or call us."},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 201
    sent = parse_qs(provider_api.requests[0]["body"])["Body"][0]
    match = re.fullmatch(r"Book here: (http://\S+/l/([\w-]+))\. Or call us\.", sent)
    assert match, sent
    assert "acme-movers.example" not in sent
    click = client.get(f"/l/{match.group(2)}")
    assert click.status_code == 302 and click["Location"] == "https://acme-movers.example/book"
    assert Event.objects.get(event="link_clicked").customer_id == customer.pk


def test_the_offline_reference_lists_the_agent_and_conversation_endpoints(client):
    body = client.get("/api/reference/").content.decode()
    for path in (
        "POST /api/agents/actions",
        "GET /api/conversations?customer=",
        "POST /api/conversations/&lt;id&gt;/messages",
    ):
        assert path in body
