"""WhatsApp's approved templates outside the 24-hour window: sent with Twilio's `ContentSid` and
`ContentVariables` on the Messages API (no Body), from the API and the Inbox; refused naming the
field when malformed, for another channel, or for a person who replied STOP. Twilio is a local
server that records the real requests."""

import datetime
import json
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from agents.models import Conversation, Message
from integrations.optout import sms_opt_out
from tests.agents.helpers import inbound, person, thread_of, twilio_accepts
from tracking.models import Event

SID = "HX" + "0123456789abcdef" * 2


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def send(client, key, conversation_id, body, capture):
    with capture(execute=True):
        return client.post(
            f"/api/conversations/{conversation_id}/messages", data=body, content_type="application/json", **auth(key)
        )


def silent_whatsapp_thread(workspace) -> tuple:
    """A person whose last WhatsApp message is 30 hours old (the window is closed)."""
    customer = person(workspace)
    old = inbound(customer, "hi", channel="whatsapp", at=timezone.now() - datetime.timedelta(hours=30))
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(hours=30))
    return customer, thread_of(old)


def form(request: dict) -> dict:
    return {k: v[0] for k, v in parse_qs(request["body"]).items()}


def test_an_approved_template_is_sent_outside_the_window_with_content_sid_and_variables(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer, conversation = silent_whatsapp_thread(tenant.workspace)
    body = {"template": {"content_sid": SID, "variables": {"1": "Dana", "2": "Saturday 9:00"}}}
    response = send(client, tenant.secret_key, conversation.pk, body, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    [request] = provider_api.requests
    assert request["method"] == "POST" and request["path"].endswith(
        f"/Accounts/{twilio_a.credentials['account_sid']}/Messages.json"
    )
    sent = form(request)
    assert sent["ContentSid"] == SID
    assert json.loads(sent["ContentVariables"]) == {"1": "Dana", "2": "Saturday 9:00"}
    assert sent["To"] == "whatsapp:+14155550123" and sent["From"] == "whatsapp:+14155238886"
    assert "Body" not in sent
    message = Message.objects.get(direction="out")
    assert message.template == {"content_sid": SID, "variables": {"1": "Dana", "2": "Saturday 9:00"}}
    assert message.body == f"WhatsApp template {SID} ({{{{1}}}} = Dana, {{{{2}}}} = Saturday 9:00)"
    assert message.status == "sent" and response.json()["status"] == "queued"
    assert Event.objects.get(event="message_sent", customer=customer).properties["channel"] == "whatsapp"
    # Free text is still refused outside the window, and says what to do instead.
    late = send(client, tenant.secret_key, conversation.pk, {"body": "Hello?"}, django_capture_on_commit_callbacks)
    assert late.status_code == 400 and "send an approved template" in late.json()["error"]
    assert len(provider_api.requests) == 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"template": {"content_sid": "HX123"}}, "template.content_sid must be a Content Template SID"),
        ({"template": {"variables": {"1": "x"}}}, "template.content_sid: This field is required."),
        ({"template": {"content_sid": SID, "variables": {"bad key": "x"}}}, "template.variables: “bad key”"),
        ({"template": {"content_sid": SID, "variables": {"1": "x" * 256}}}, "template.variables.1:"),
        ({"channel": "sms", "template": {"content_sid": SID}}, "template: approved templates are for WhatsApp only."),
    ],
)
def test_bad_templates_are_refused_naming_the_field_and_nothing_is_sent(
    tenant, twilio_a, provider_api, settings, client, body, error, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    _, conversation = silent_whatsapp_thread(tenant.workspace)
    response = send(client, tenant.secret_key, conversation.pk, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and response.json()["error"].startswith(error), response.json()
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()


def test_a_person_who_replied_stop_gets_no_template_either(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer, conversation = silent_whatsapp_thread(tenant.workspace)
    sms_opt_out(workspace=tenant.workspace, customer=customer)
    response = send(
        client,
        tenant.secret_key,
        conversation.pk,
        {"template": {"content_sid": SID}},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 400 and "STOP" in response.json()["error"]
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()


def test_the_inbox_sends_a_template_from_the_reply_form(
    tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    customer, _ = silent_whatsapp_thread(tenant.workspace)
    client.force_login(tenant.owner)
    url = f"/w/{tenant.workspace.slug}/inbox/{customer.pk}/"
    assert 'data-form="whatsapp-template"' in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url,
            {
                "channel": "whatsapp",
                "body": "Hi Dana, are you still moving on Saturday?",
                "template_sid": SID,
                "template_variables": "1=Dana\n2 = Saturday",
            },
        )
    sent = form(provider_api.requests[0])
    assert sent["ContentSid"] == SID and json.loads(sent["ContentVariables"]) == {"1": "Dana", "2": "Saturday"}
    assert "Body" not in sent
    assert Message.objects.get(direction="out").body == "Hi Dana, are you still moving on Saturday?"


def test_another_workspace_cannot_send_a_template_in_this_workspaces_conversation(
    tenant, other_tenant, twilio_a, provider_api, settings, client, django_capture_on_commit_callbacks
):
    twilio_accepts(provider_api, settings)
    _, conversation = silent_whatsapp_thread(tenant.workspace)
    response = send(
        client,
        other_tenant.secret_key,
        conversation.pk,
        {"template": {"content_sid": SID}},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 404
    assert provider_api.requests == [] and not Message.objects.filter(direction="out").exists()
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == conversation.last_message_at
