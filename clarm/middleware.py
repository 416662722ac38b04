"""Request guards that apply to every URL before any view runs."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "The request contains a NUL character."
# Machine endpoints answer in JSON; pages answer in text.
JSON_PREFIXES = ("/api/", "/v1/", "/hooks/")


class RejectNulMiddleware:
    """400 for a NUL character in the path or the query string. PostgreSQL text cannot hold NUL,
    so such a value would otherwise reach a lookup and fail there as a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            if request.path.startswith(JSON_PREFIXES):
                body: dict[str, object] = {"error": NUL_MESSAGE, "details": None}
                if request.path.startswith("/v1/"):
                    # Segment's error shape, as every /v1/ answer (docs/ingest.md).
                    body.update(success=False, code="invalid_request", message=NUL_MESSAGE)
                return JsonResponse(body, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


# Pages whose URL carries a token that acts as a password (anyone holding the link is let in).
TOKEN_PREFIXES = ("/privacy/preferences/", "/privacy/requests/", "/invitations/", "/accounts/password/reset/key/")


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer that may show a secret or personal data and does
    not set its own caching: anything for a signed-in user (keys, customers, exports), anything
    answered to an `Authorization` header (the read API), and pages reached by a token link. A
    shared computer's back button, a proxy or the disk cache then keep none of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        if _signed_in(request) or "HTTP_AUTHORIZATION" in request.META or request.path.startswith(TOKEN_PREFIXES):
            response["Cache-Control"] = "no-store"
        return response


def _signed_in(request: HttpRequest) -> bool:
    # Without a session cookie nobody is signed in: do not load the session (that would add
    # `Vary: Cookie` to answers that do not depend on it, such as the ingest's CORS answers).
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)
