from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class CurrentWorkspaceMiddleware:
    """Sets `request.workspace` and `request.membership` to None; workspace views fill them in from
    the URL's slug through `workspaces.views_base.WorkspaceMixin` (the one place pages are scoped)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        return self.get_response(request)
