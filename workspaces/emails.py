"""Emails of the workspaces app. Called after commit with ids, so a rolled-back write sends nothing."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from workspaces.models import Invitation


def invitation_url(token: str) -> str:
    return settings.CLARM_PUBLIC_URL + reverse("workspaces:invitation", kwargs={"token": token})


def invitation_email_send(*, invitation_id: int) -> bool:
    """Send the accept link of a still-pending invitation; False when there is nothing to send."""
    invitation = Invitation.objects.select_related("workspace", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_pending:
        return False
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": getattr(invitation.invited_by, "email", "") or "A colleague",
        "accept_url": invitation_url(invitation.token),
        "expires_at": invitation.expires_at,
    }
    send_mail(
        subject=f"[Clarm] You are invited to {invitation.workspace.name}",
        message=render_to_string("workspaces/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
        html_message=render_to_string("workspaces/email/invitation.html", context),
    )
    return True
