"""“Needs human eyes”: the email to the workspace's owners and admins when an agent hands a thread
over (Slack comes with the destinations work). Sent after commit, with ids, so a rolled-back
hand-off sends nothing."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from identity.models import Customer
from workspaces.models import Membership, Role, Workspace


def needs_human_notify(*, workspace_id: int, customer_id: int, reason: str) -> int:
    """Mail the owners and admins a link to the thread; returns the number of recipients."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    customer = Customer.objects.filter(workspace_id=workspace_id, pk=customer_id).first()
    if workspace is None or customer is None:
        return 0
    recipients = sorted(
        {
            email
            for email in Membership.objects.filter(workspace=workspace, role__in=[Role.OWNER, Role.ADMIN]).values_list(
                "user__email", flat=True
            )
            if email
        }
    )
    if not recipients:
        return 0
    who = customer.name or customer.email or customer.phone or f"Customer {customer.pk}"
    link = settings.CLARM_PUBLIC_URL + reverse("agents:thread", kwargs={"ws": workspace.slug, "pk": customer.pk})
    send_mail(
        subject=f"[Clarm] Needs human eyes: {who}",
        message=f"{who} {reason}.\n\nThe thread is first in your Inbox:\n{link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
    return len(recipients)
