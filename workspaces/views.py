from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from workspaces.selectors import memberships_for_user


def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    return render(request, "landing.html")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to their first workspace (or to create one)."""
    membership = memberships_for_user(user=request.user).first()
    if membership is None:
        return redirect("workspaces:create")
    return redirect("identity:customers", ws=membership.workspace.slug)
