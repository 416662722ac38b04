from typing import Any

from django.http import HttpRequest

from workspaces.selectors import memberships_for_user


def workspace(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "current_workspace": getattr(request, "workspace", None),
        "current_membership": getattr(request, "membership", None),
        "my_memberships": memberships_for_user(user=user) if user is not None else [],
    }
