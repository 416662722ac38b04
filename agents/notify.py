"""“Needs human eyes”: the hand-off itself (the mark on the person's threads and the
`handoff_requested` event), the email to the workspace's owners and admins when an agent hands a thread
over, and a `needs_human` moment for the workspace's Slack destinations (integrations/destinations:
every Slack destination gets it, no rule needed). Called after commit, with ids, so a rolled-back
hand-off sends nothing."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agents.models import Conversation
from agents.registry import HANDOFF
from agents.selectors import thread_customer_ids
from agents.services import agent_action_log_quiet
from identity.models import Customer
from integrations.destinations.hooks import moment_reached
from workspaces.models import Membership, Role, Workspace


def needs_human_notify(*, workspace_id: int, customer_id: int, reason: str) -> int:
    """Tell Slack (through the destinations) and mail the owners and admins a link to the thread;
    returns the number of mail recipients."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    customer = Customer.objects.filter(workspace_id=workspace_id, pk=customer_id).first()
    if workspace is None or customer is None:
        return 0
    link = settings.CLARM_PUBLIC_URL + reverse("agents:thread", kwargs={"ws": workspace.slug, "pk": customer.pk})
    moment_reached(
        workspace_id=workspace_id,
        customer_id=customer_id,
        moment="needs_human",
        key=timezone.now().strftime("%Y%m%dT%H%M%S%f"),
        data={"reason": reason, "thread_url": link},
    )
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
    send_mail(
        subject=f"[Clarm] Needs human eyes: {who}",
        message=f"{who} {reason}.\n\nThe thread is first in your Inbox:\n{link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
    return len(recipients)


def needs_human_mark(workspace: Workspace, customer: Customer, *, reason: str) -> None:
    """Mark the person's threads; the owners and admins are mailed when the mark is new."""
    marked = Conversation.objects.filter(
        workspace=workspace,
        customer_id__in=thread_customer_ids(workspace=workspace, customer=customer),
        needs_human=False,
    ).update(needs_human=True)
    if marked:
        workspace_id, customer_id = workspace.pk, customer.pk
        transaction.on_commit(
            lambda: needs_human_notify(workspace_id=workspace_id, customer_id=customer_id, reason=reason)
        )


def handoff_take(
    *, workspace: Workspace, customer: Customer, reason: str, title: str, channel: str, key: str, agent: str = ""
) -> None:
    """Hand the person's thread to the team: the “needs human eyes” mark (and its notice) and a
    `handoff_requested` event (left out when the person opted out of analytics: the mark stays)."""
    needs_human_mark(workspace, customer, reason=reason)
    agent_action_log_quiet(
        workspace=workspace,
        agent=agent or HANDOFF.name,
        action=HANDOFF.action,
        customer=customer,
        properties={"title": title, "channel": channel},
        key=key,
    )
