"""The destinations API (secret key, `Authorization: Bearer sk_…`):
`POST/GET /api/destinations`, `GET|PATCH|DELETE /api/destinations/<id>`,
`GET /api/destinations/<id>/deliveries?status=&kind=&cursor=`."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.api.authentication import HasSecretKey, SecretKeyAuthentication
from identity.api.serializers import ErrorOut
from identity.api.views import ERRORS, UNAUTHORIZED
from integrations.destinations.models import DeliveryKind, DeliveryState, Destination
from integrations.destinations.selectors import deliveries_page, destination_get, destinations_list
from integrations.destinations.services import (
    DestinationInputError,
    destination_create,
    destination_delete,
    destination_update,
)
from integrations.destinations.specs import SPECS, config_shown
from workspaces.models import Workspace

NOT_FOUND = "No such destination in this workspace."
MISSING = {
    404: OpenApiResponse(
        ErrorOut, description="No such destination in this workspace (also an id that is not a whole number)"
    )
}
DESTINATION_ID = OpenApiParameter(
    "pk", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The destination's id"
)
_MAX_ID = 2**63 - 1


def _error(code: int, message: str, details: Any = None) -> Response:
    return Response({"error": message, "details": details}, status=code)


def destination_out(destination: Destination) -> dict[str, Any]:
    return {
        "id": destination.pk,
        "provider": destination.provider,
        "name": destination.name,
        "status": destination.status,
        "config": config_shown(destination.provider, destination.config),
        "rules": destination.rules,
        "failing_since": destination.failing_since,
        "last_success_at": destination.last_success_at,
        "created_at": destination.created_at,
    }


class DestinationOut(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="active, paused, or failing (paused after 72 hours of failures)")
    config = serializers.DictField(help_text="Secrets masked (…last 4 characters)")
    rules = serializers.ListField(child=serializers.DictField())
    failing_since = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class DestinationListOut(serializers.Serializer):
    results = DestinationOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="Always null: every destination is on one page")


class DestinationCreatedOut(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    secret = serializers.CharField(required=False, help_text="Webhooks only: the signing secret, shown once")


class _Api(APIView):
    authentication_classes = [SecretKeyAuthentication]
    permission_classes = [HasSecretKey]

    def workspace(self, request: Request) -> Workspace:
        return request.auth.workspace  # type: ignore[union-attr]

    def destination(self, request: Request, pk: str) -> Destination | None:
        """This workspace's destination `pk`, or None (also for an id that is not a whole number)."""
        if not (pk.isascii() and pk.isdigit()) or not 0 < int(pk) <= _MAX_ID:
            return None
        return destination_get(workspace=self.workspace(request), pk=int(pk))


class DestinationsApi(_Api):
    class DestinationInputSerializer(serializers.Serializer):
        provider = serializers.ChoiceField(choices=sorted(SPECS))
        name = serializers.CharField(max_length=120)
        config = serializers.JSONField()
        rules = serializers.JSONField()

    @extend_schema(
        responses={200: DestinationListOut, **UNAUTHORIZED},
        summary="List destinations",
        operation_id="destinations_list",
    )
    def get(self, request: Request) -> Response:
        rows = [destination_out(d) for d in destinations_list(workspace=self.workspace(request))]
        return Response({"results": DestinationOut(rows, many=True).data, "next": None})

    @extend_schema(
        request=DestinationInputSerializer,
        responses={201: DestinationCreatedOut, **ERRORS},
        summary="Add a destination",
        operation_id="destinations_create",
    )
    def post(self, request: Request) -> Response:
        data = self.DestinationInputSerializer(data=request.data)
        if not data.is_valid():
            return _error(400, "Invalid destination.", data.errors)
        values = data.validated_data
        try:
            destination = destination_create(
                workspace=self.workspace(request),
                provider=values["provider"],
                name=values["name"],
                config=values["config"],
                rules=values["rules"],
                actor=None,
            )
        except DestinationInputError as exc:
            return _error(400, str(exc))
        out = {
            "id": destination.pk,
            "provider": destination.provider,
            "name": destination.name,
            "status": destination.status,
        }
        secret = SPECS[destination.provider].generated_secret
        if secret:
            out["secret"] = destination.config[secret]  # shown once
        return Response(out, status=status.HTTP_201_CREATED)


class DestinationApi(_Api):
    class DestinationPatchSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120, required=False)
        config = serializers.JSONField(required=False)
        rules = serializers.JSONField(required=False)
        status = serializers.ChoiceField(choices=["active", "paused"], required=False)

    @extend_schema(
        parameters=[DESTINATION_ID],
        responses={200: DestinationOut, **UNAUTHORIZED, **MISSING},
        summary="One destination",
        operation_id="destination_retrieve",
    )
    def get(self, request: Request, pk: str) -> Response:
        destination = self.destination(request, pk)
        if destination is None:
            return _error(404, NOT_FOUND)
        return Response(DestinationOut(destination_out(destination)).data)

    @extend_schema(
        parameters=[DESTINATION_ID],
        request=DestinationPatchSerializer,
        responses={200: DestinationOut, **ERRORS, **MISSING},
        summary="Change, pause or resume",
        operation_id="destination_update",
    )
    def patch(self, request: Request, pk: str) -> Response:
        destination = self.destination(request, pk)
        if destination is None:
            return _error(404, NOT_FOUND)
        data = self.DestinationPatchSerializer(data=request.data)
        if not data.is_valid():
            return _error(400, "Invalid change.", data.errors)
        try:
            destination = destination_update(destination=destination, actor=None, **data.validated_data)
        except DestinationInputError as exc:
            return _error(400, str(exc))
        return Response(DestinationOut(destination_out(destination)).data)

    @extend_schema(
        parameters=[DESTINATION_ID],
        responses={204: None, **UNAUTHORIZED, **MISSING},
        summary="Remove a destination",
        operation_id="destination_delete",
    )
    def delete(self, request: Request, pk: str) -> Response:
        destination = self.destination(request, pk)
        if destination is None:
            return _error(404, NOT_FOUND)
        destination_delete(destination=destination, actor=None)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    event_id = serializers.IntegerField(allow_null=True)
    customer_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_answer = serializers.CharField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)


class DeliveryListOut(serializers.Serializer):
    results = DeliveryOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="The cursor of the next (older) page, or null")


class DeliveriesApi(_Api):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=list(DeliveryState.values), description="Only deliveries in this state"
            ),
            OpenApiParameter("kind", str, enum=list(DeliveryKind.values), description="Only deliveries of this kind"),
            OpenApiParameter("cursor", str, description="The `next` of a previous page"),
        ],
        responses={200: DeliveryListOut, **ERRORS, **MISSING},
        summary="Delivery log of a destination, newest first",
        operation_id="destination_deliveries_list",
    )
    def get(self, request: Request, pk: str) -> Response:
        workspace = self.workspace(request)
        destination = self.destination(request, pk)
        if destination is None:
            return _error(404, NOT_FOUND)
        state = request.query_params.get("status") or None
        kind = request.query_params.get("kind") or None
        if state and state not in DeliveryState.values:
            return _error(400, f"status must be one of {', '.join(DeliveryState.values)}.")
        if kind and kind not in DeliveryKind.values:
            return _error(400, f"kind must be one of {', '.join(DeliveryKind.values)}.")
        cursor = request.query_params.get("cursor") or ""
        if cursor and not cursor.isdigit():
            return _error(400, "cursor must be the value of a previous page's next.")
        rows, more = deliveries_page(
            workspace=workspace,
            destination=destination,
            status=state,
            kind=kind,
            before_id=int(cursor) if cursor else None,
        )
        return Response({"results": DeliveryOut(rows, many=True).data, "next": str(more) if more else None})
