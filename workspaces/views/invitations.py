"""Opening and accepting an invitation (`/invitations/<token>/`)."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from workspaces.selectors import invitation_get_pending
from workspaces.services import invitation_accept, user_has_verified_email
from workspaces.views.onboarding import INVITATION_SESSION_KEY


class InvitationView(View):
    template_name = "workspaces/invitation.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        invitation = invitation_get_pending(token=token)
        context = {"invitation": invitation, "next": request.path}
        if not request.user.is_authenticated:
            request.session[INVITATION_SESSION_KEY] = token
            return render(request, self.template_name, {**context, "state": "anonymous"})
        if not user_has_verified_email(request.user, invitation.email):
            return render(request, self.template_name, {**context, "state": "wrong_user"}, status=403)
        return render(request, self.template_name, {**context, "state": "ready"})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.path)
        try:
            membership = invitation_accept(token=token, user=request.user)
        except PermissionDenied:
            invitation = invitation_get_pending(token=token)
            return render(request, self.template_name, {"invitation": invitation, "state": "wrong_user"}, status=403)
        request.session.pop(INVITATION_SESSION_KEY, None)
        messages.success(
            request, f"Welcome to {membership.workspace.name}: you joined as {membership.get_role_display().lower()}."
        )
        return redirect("identity:dashboard", ws=membership.workspace.slug)
