"""Read API: one small view per operation, authenticated by a workspace secret key."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import selectors
from identity.api.authentication import HasSecretKey, SecretKeyAuthentication
from identity.api.serializers import CustomerListOut, CustomerOut, ErrorOut, TimelineOut
from identity.cursors import BadCursor
from identity.models import Customer, CustomerStatus
from workspaces.models import Workspace

TIMELINE_DEFAULT_LIMIT = 100
TIMELINE_MAX_LIMIT = 500
ERRORS = {
    400: OpenApiResponse(ErrorOut, description="A parameter is missing or invalid (the error names it)"),
    401: OpenApiResponse(ErrorOut, description="Missing, unknown, revoked or write key"),
}
NOT_FOUND = {404: OpenApiResponse(ErrorOut, description="No such customer in this workspace")}


def error(status: int, message: str, details: Any = None) -> Response:
    return Response({"error": message, "details": details}, status=status)


class SecretKeyApi(APIView):
    authentication_classes = [SecretKeyAuthentication]
    permission_classes = [HasSecretKey]

    def workspace(self, request: Request) -> Workspace:
        return request.auth.workspace  # type: ignore[union-attr]

    def customer_or_response(self, request: Request, pk: int) -> Customer | Response:
        """The live customer, or a 404: another workspace's customer looks exactly like a missing one;
        a customer merged away in this workspace says where it went."""
        workspace = self.workspace(request)
        customer = selectors.customers_live(workspace=workspace).filter(pk=pk).first()
        if customer is not None:
            return customer
        merged = Customer.objects.filter(workspace=workspace, pk=pk, status=CustomerStatus.MERGED).first()
        if merged is not None:
            survivor = selectors.customer_survivor(workspace=workspace, customer=merged)
            if survivor is not None:
                return error(
                    404, f"Customer {pk} was merged into customer {survivor.pk}.", {"merged_into": survivor.pk}
                )
        return error(404, f"No customer {pk} in this workspace.")


class CustomerLookupApi(SecretKeyApi):
    @extend_schema(
        operation_id="customers_lookup",
        summary="Find a customer by one identifier",
        description="Exactly one of email, phone, user_id or visitor_id. Values are normalized (email lowercased, "
        "phone read as E.164 with the workspace's default country) and matched by keyed hash.",
        parameters=[
            OpenApiParameter(name, str, description=text)
            for name, text in (
                ("email", "An email address"),
                ("phone", "A phone number (E.164, or national in the workspace's default country)"),
                ("user_id", "Your own account id, as sent with identify"),
                ("visitor_id", "The snippet's visitor id (anonymousId)"),
            )
        ],
        responses={200: CustomerListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        given = [p for p in selectors.LOOKUP_KINDS if p in request.query_params]
        if len(given) != 1:
            names = ", ".join(selectors.LOOKUP_KINDS)
            if given:
                return error(400, f"Give exactly one of {names}; got {', '.join(given)}.")
            return error(400, f"Missing lookup parameter: give exactly one of {names}.")
        param = given[0]
        try:
            customer = selectors.customer_find_by_identifier(
                workspace=self.workspace(request), param=param, value=request.query_params[param]
            )
        except ValueError as exc:
            return error(400, str(exc))
        results = [] if customer is None else [customer]
        return Response({"results": CustomerOut(results, many=True).data, "next": None})


class CustomerDetailApi(SecretKeyApi):
    @extend_schema(
        operation_id="customers_retrieve",
        summary="One customer: rung, contact, masked identifiers, consent",
        responses={200: CustomerOut, 401: ERRORS[401], **NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        found = self.customer_or_response(request, pk)
        if isinstance(found, Response):
            return found
        return Response(CustomerOut(found).data)


class CustomerTimelineApi(SecretKeyApi):
    @extend_schema(
        operation_id="customers_timeline",
        summary="A customer's events, oldest first",
        parameters=[
            OpenApiParameter("limit", int, description=f"1 to {TIMELINE_MAX_LIMIT} (default {TIMELINE_DEFAULT_LIMIT})"),
            OpenApiParameter("cursor", str, description="The `next` of the previous page"),
        ],
        responses={200: TimelineOut, **ERRORS, **NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        limit_text = request.query_params.get("limit", str(TIMELINE_DEFAULT_LIMIT)).strip()
        if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= TIMELINE_MAX_LIMIT:
            return error(400, f"limit must be a whole number from 1 to {TIMELINE_MAX_LIMIT}, not “{limit_text[:20]}”.")
        found = self.customer_or_response(request, pk)
        if isinstance(found, Response):
            return found
        try:
            page = selectors.customer_events_page(
                workspace=self.workspace(request),
                customer=found,
                cursor=request.query_params.get("cursor") or None,
                limit=int(limit_text),
            )
        except BadCursor as exc:
            return error(400, f"cursor: {exc}.")
        return Response(TimelineOut({"results": page.rows, "next": page.next_cursor}).data)
