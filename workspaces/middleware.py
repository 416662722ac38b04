from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class CurrentWorkspaceMiddleware:
    """Sets `request.workspace` and `request.membership` to None; workspace views fill them in from
    the URL's slug through `workspaces.views_base.WorkspaceMixin` (the one place pages are scoped),
    which also activates the workspace's time zone: reset here, so it never outlives its request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
