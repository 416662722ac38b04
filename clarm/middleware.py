"""Request guards that apply to every URL before any view runs."""

from collections.abc import Callable

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
