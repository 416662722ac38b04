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
# Customer ids are 64-bit: a longer or non-numeric id names no customer (404, never a query error).
_MAX_ID = 2**63 - 1
UNAUTHORIZED = {
    401: OpenApiResponse(
        ErrorOut,
        description="No Authorization header, a malformed one, an unknown or revoked secret key, or a write key",
    )
}
# The 4xx answers every secret-key endpoint with parameters can give.
ERRORS = {
    400: OpenApiResponse(ErrorOut, description="A parameter is missing or invalid (the error names it)"),
    **UNAUTHORIZED,
}
NOT_FOUND = {
    404: OpenApiResponse(
        ErrorOut,
        description="No such customer in this workspace (also an id that is not a whole number, and a customer of "
        'another workspace). A customer merged into another answers 404 with `details: {"merged_into": id}`.',
    )
}
CUSTOMER_ID = OpenApiParameter(
    "id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The customer's id"
)


def error(status: int, message: str, details: Any = None) -> Response:
    return Response({"error": message, "details": details}, status=status)


class SecretKeyApi(APIView):
    authentication_classes = [SecretKeyAuthentication]
    permission_classes = [HasSecretKey]

    def workspace(self, request: Request) -> Workspace:
        return request.auth.workspace  # type: ignore[union-attr]

    def customer_or_response(self, request: Request, pk_text: str) -> Customer | Response:
        """The live customer, or a 404: another workspace's customer looks exactly like a missing one;
        a customer merged away in this workspace says where it went."""
        if not (pk_text.isascii() and pk_text.isdigit()) or not 0 < int(pk_text) <= _MAX_ID:
            return error(404, f"No customer {pk_text[:40]} in this workspace.")
        pk = int(pk_text)
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
        description="Give exactly one of email, phone, user_id or visitor_id (none, or two or more, is a 400). Values "
        "are normalized (email trimmed and lowercased, phone read as E.164 with the workspace's default country) and "
        "matched by keyed hash. An identifier belongs to at most one customer: `results` holds 0 or 1 customer and "
        "`next` is always null. A value that cannot be an identifier (`email=not-an-email`, `user_id=undefined`) is "
        "a 400 naming it.",
        parameters=[
            OpenApiParameter(name, str, description=text)
            for name, text in (
                ("email", "An email address"),
                ("phone", "A phone number (E.164, or national in the workspace's default country)"),
                ("user_id", "Your own account id, as sent with identify"),
                ("visitor_id", "The snippet's visitor id (anonymousId)"),
            )
        ],
        responses={
            200: CustomerListOut,
            400: OpenApiResponse(
                ErrorOut, description="None or more than one lookup parameter, or a value that is not an identifier"
            ),
            **UNAUTHORIZED,
        },
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
        parameters=[CUSTOMER_ID],
        responses={
            200: CustomerOut,
            400: OpenApiResponse(ErrorOut, description="A NUL character in the query string"),
            **UNAUTHORIZED,
            **NOT_FOUND,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        found = self.customer_or_response(request, pk)
        if isinstance(found, Response):
            return found
        return Response(CustomerOut(found).data)


class CustomerTimelineApi(SecretKeyApi):
    @extend_schema(
        operation_id="customers_timeline",
        summary="A customer's events, oldest first",
        description="Keyset-paginated on (occurred_at, id): pass a page's `next` as `cursor` for the next page; "
        "`next` is null on the last one. The limit is checked before the customer is looked up.",
        parameters=[
            CUSTOMER_ID,
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": TIMELINE_MAX_LIMIT, "default": TIMELINE_DEFAULT_LIMIT},
                description=f"Events per page, 1 to {TIMELINE_MAX_LIMIT} (default {TIMELINE_DEFAULT_LIMIT})",
            ),
            OpenApiParameter("cursor", str, description="The `next` of the previous page; any other value is a 400"),
        ],
        responses={
            200: TimelineOut,
            400: OpenApiResponse(
                ErrorOut, description="`limit` not a whole number from 1 to 500, a bad `cursor`, or a NUL character"
            ),
            **UNAUTHORIZED,
            **NOT_FOUND,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
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
