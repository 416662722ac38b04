"""`POST /api/links`: create a tracked link with the workspace's secret key."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.api.authentication import HasSecretKey, SecretKeyAuthentication
from identity.api.serializers import ErrorOut
from identity.api.views import UNAUTHORIZED
from integrations.models import LinkChannel
from integrations.selectors import link_public_url
from integrations.services import IntegrationInputError, link_create


class LinkCreateApi(APIView):
    authentication_classes = [SecretKeyAuthentication]
    permission_classes = [HasSecretKey]

    class InputSerializer(serializers.Serializer):
        target_url = serializers.CharField(max_length=2000)
        channel = serializers.ChoiceField(choices=LinkChannel.choices, default=LinkChannel.OTHER)
        customer_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        label = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")  # type: ignore[assignment]
        utm_source = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        utm_medium = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        utm_campaign = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        utm_term = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        utm_content = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        url = serializers.CharField()
        target_url = serializers.CharField()
        channel = serializers.CharField()
        customer_id = serializers.IntegerField(allow_null=True)
        created_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="links_create",
        summary="Create a tracked link",
        description="A short link that records a click on the customer's timeline (when `customer_id` is given) "
        "and redirects to `target_url` with the UTM parameters added.",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: OpenApiResponse(
                ErrorOut,
                description="Malformed JSON, or a field missing or invalid: `details` names each field; a "
                "`customer_id` that is not a customer of this workspace",
            ),
            **UNAUTHORIZED,
            415: OpenApiResponse(ErrorOut, description="A body that is not JSON, a form or multipart"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        try:
            link = link_create(
                workspace=request.auth.workspace,  # type: ignore[union-attr]
                target_url=values["target_url"],
                channel=values["channel"],
                customer_id=values.get("customer_id"),
                label=values["label"],
                utm={k: values[f"utm_{k}"] for k in ("source", "medium", "campaign", "term", "content")},
            )
        except IntegrationInputError as exc:
            return Response({"error": str(exc), "details": None}, status=status.HTTP_400_BAD_REQUEST)
        out = {
            "code": link.code,
            "url": link_public_url(link),
            "target_url": link.target_url,
            "channel": link.channel,
            "customer_id": link.customer_id,
            "created_at": link.created_at,
        }
        return Response(self.OutputSerializer(out).data, status=status.HTTP_201_CREATED)
