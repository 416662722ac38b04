"""Agent API and conversations API (secret key, as the read API): one small view per operation.

- `POST /api/agents/actions` logs an external agent's action on a customer's timeline → 201 with the
  event id.
- `GET /api/conversations?customer=<id>` lists the person's conversations (one per channel).
- `POST /api/conversations/<id>/messages` sends a message from the workspace over the person's channel.
"""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors
from agents.models import Channel
from agents.registry import ACTION_NAMES
from agents.services import AgentInputError, agent_action_log, conversation_reply
from identity import selectors as identity_selectors
from identity.api.views import ERRORS, SecretKeyApi, error
from identity.models import CustomerStatus
from integrations.events import event_customer
from integrations.services import IntegrationInputError

LOOKUP_KINDS = identity_selectors.LOOKUP_KINDS


class CustomerRefIn(serializers.Serializer):
    email = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)
    visitor_id = serializers.CharField(required=False)


class AgentActionIn(serializers.Serializer):
    customer = CustomerRefIn(help_text="Exactly one of email, phone, user_id, visitor_id")
    agent = serializers.CharField(max_length=40, help_text="Your agent's name, e.g. qualify")
    action = serializers.CharField(max_length=64, help_text="snake_case; documented names: " + ", ".join(ACTION_NAMES))
    properties = serializers.DictField(required=False, default=dict)
    idempotency_key = serializers.CharField(
        required=False, max_length=80, help_text="Send the same key again and the action is logged once"
    )


class AgentActionOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The event's id on the timeline")
    customer = serializers.IntegerField()
    event = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class ConversationOut(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    channel = serializers.CharField()
    started_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField()
    last_direction = serializers.CharField(allow_null=True, help_text="in or out")
    needs_human = serializers.BooleanField()


class ConversationListOut(serializers.Serializer):
    results = ConversationOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="Always null: a person has one conversation per channel")


class WhatsAppTemplateIn(serializers.Serializer):
    content_sid = serializers.CharField(max_length=34, help_text="The approved Content Template's SID (HX…)")
    variables = serializers.DictField(
        child=serializers.CharField(max_length=255),
        required=False,
        help_text='Values of the template\'s placeholders, e.g. {"1": "Dana"} (Twilio\'s ContentVariables)',
    )


class MessageIn(serializers.Serializer):
    body = serializers.CharField(
        max_length=10_000,
        trim_whitespace=True,
        required=False,
        help_text="The message; with a template, what the thread shows (optional)",
    )
    channel = serializers.ChoiceField(
        choices=[Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.WEB],
        required=False,
        help_text="Default: the conversation's channel (voice → the person's last channel)",
    )
    subject = serializers.CharField(required=False, max_length=300, help_text="Email only")
    template = WhatsAppTemplateIn(
        required=False,
        help_text="WhatsApp only: an approved template, the one message allowed outside the 24-hour window",
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("body") and not attrs.get("template"):
            raise serializers.ValidationError({"body": "give the message (or a WhatsApp template)."})
        return attrs


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    channel = serializers.CharField()
    direction = serializers.CharField()
    status = serializers.CharField(help_text="queued, sent, delivered, failed, cancelled")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


def _first_error(errors: Any, path: str = "") -> str:
    """The first validation error, named by its field path (e.g. `customer.email: …`)."""
    if isinstance(errors, dict) and errors:
        name, value = next(iter(errors.items()))
        inner_path = path if name == "non_field_errors" else f"{path}.{name}" if path else str(name)
        return _first_error(value, inner_path)
    if isinstance(errors, list) and errors:
        return _first_error(errors[0], path)
    return f"{path}: {errors}" if path else str(errors)


class AgentActionApi(SecretKeyApi):
    @extend_schema(
        operation_id="agents_actions_create",
        summary="Log an agent's action on a customer's timeline",
        description="The customer is found by exactly one identifier; the action is stored as an event with "
        '`source: "agent"` named `action`, with `agent` among its properties.',
        request=AgentActionIn,
        responses={
            201: AgentActionOut,
            **ERRORS,
            404: OpenApiResponse(description="No customer with that identifier in this workspace"),
        },
    )
    def post(self, request: Request) -> Response:
        data = AgentActionIn(data=request.data)
        if not data.is_valid():
            return error(400, _first_error(data.errors), data.errors)
        values = data.validated_data
        given = {k: v for k, v in values["customer"].items() if k in LOOKUP_KINDS}
        if len(given) != 1:
            return error(400, f"customer: give exactly one of {', '.join(LOOKUP_KINDS)}.")
        [(param, value)] = given.items()
        workspace = self.workspace(request)
        try:
            customer = identity_selectors.customer_find_by_identifier(workspace=workspace, param=param, value=value)
        except ValueError as exc:
            return error(400, f"customer.{exc}")
        if customer is None:
            return error(404, f"No customer with that {param} in this workspace.")
        key = values.get("idempotency_key")
        try:
            event = agent_action_log(
                workspace=workspace,
                agent=values["agent"],
                action=values["action"],
                properties=values["properties"],
                identifier={param: value},
                key=f"api-{workspace.pk}-{key}" if key else None,
            )
        except AgentInputError as exc:
            return error(400, str(exc))
        landed = event_customer(event)
        body = {
            "id": event.pk,
            "customer": landed.pk if landed else customer.pk,
            "event": event.event,
            "occurred_at": event.occurred_at,
        }
        return Response(AgentActionOut(body).data, status=201)


class ConversationListApi(SecretKeyApi):
    @extend_schema(
        operation_id="conversations_list",
        summary="A customer's conversations (one per channel), most recent first",
        parameters=[OpenApiParameter("customer", int, required=True, description="The customer's id")],
        responses={200: ConversationListOut, **ERRORS, 404: OpenApiResponse(description="No such customer")},
    )
    def get(self, request: Request) -> Response:
        text = request.query_params.get("customer", "").strip()
        if not (text.isascii() and text.isdigit()):
            return error(400, "customer: give the customer's id (a whole number).")
        found = self.customer_or_response(request, text)
        if isinstance(found, Response):
            return found
        rows = selectors.conversations_of(workspace=self.workspace(request), customer=found)
        return Response(ConversationListOut({"results": list(rows), "next": None}).data)


class ConversationMessageApi(SecretKeyApi):
    @extend_schema(
        operation_id="conversations_messages_create",
        summary="Send a message from the workspace in a conversation",
        description="Queued and sent through Twilio (SMS, WhatsApp) or email; the send lands on the "
        "timeline. Refused (400, naming why) when the person opted out of that channel, outside "
        "WhatsApp's 24-hour window without an approved template, or when the provider is not connected.",
        request=MessageIn,
        responses={201: MessageOut, **ERRORS, 404: OpenApiResponse(description="No such conversation")},
    )
    def post(self, request: Request, pk: int) -> Response:
        workspace = self.workspace(request)
        conversation = selectors.conversation_get(workspace=workspace, pk=pk)
        if conversation is None:
            return error(404, f"No conversation {pk} in this workspace.")
        data = MessageIn(data=request.data)
        if not data.is_valid():
            return error(400, _first_error(data.errors), data.errors)
        values = data.validated_data
        channel = values.get("channel") or (conversation.channel if conversation.channel != Channel.VOICE else None)
        customer = conversation.customer
        if customer.status != CustomerStatus.LIVE:
            customer = identity_selectors.customer_survivor(workspace=workspace, customer=customer) or customer
        try:
            message = conversation_reply(
                workspace=workspace,
                customer=customer,
                body=values.get("body", ""),
                channel=channel,
                subject=values.get("subject", ""),
                template=values.get("template"),
            )
        except IntegrationInputError as exc:
            return error(400, str(exc))
        return Response(MessageOut(message).data, status=201)
