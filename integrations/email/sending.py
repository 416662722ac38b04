"""Email out through Django's email backend (SendGrid's SMTP relay in production).

Every http(s) link is rewritten to a tracked link `/l/<code>`, an open pixel `/o/<code>.gif` is added,
and marketing mail carries RFC 8058 one-click unsubscribe headers. SendGrid events come back with our
message id through the SMTP API unique args (`X-SMTPAPI`), so delivery/bounce update the message."""

import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.models import Channel, Direction, Message
from identity.models import Customer
from integrations.errors import IntegrationInputError
from integrations.messaging import _schedule, conversation_touch
from workspaces.models import Workspace


@transaction.atomic
def email_send(
    *,
    workspace: Workspace,
    customer_id: int,
    subject: str,
    html_body: str,
    marketing: bool = False,
    scheduled_at: datetime.datetime | None = None,
    actor: User | None = None,
) -> Message:
    """Queue an email to a customer; it goes out after commit (or at scheduled_at)."""
    customer = Customer.objects.filter(workspace=workspace, pk=customer_id).first()
    if customer is None:
        raise IntegrationInputError("No such customer in this workspace.")
    if not customer.email:
        raise IntegrationInputError("This customer has no email address.")
    if marketing and not customer.allow_marketing_email:
        raise IntegrationInputError("This customer has unsubscribed from marketing email.")
    subject = (subject or "").strip()
    if not subject or len(subject) > 300:
        raise IntegrationInputError("The subject is required (at most 300 characters).")
    if not (html_body or "").strip():
        raise IntegrationInputError("The email body is empty.")
    now = timezone.now()
    message = Message.objects.create(
        workspace=workspace,
        customer=customer,
        conversation=conversation_touch(workspace=workspace, customer=customer, channel=Channel.EMAIL, at=now),
        channel=Channel.EMAIL,
        direction=Direction.OUT,
        subject=subject,
        body=html_body,
        marketing=marketing,
        scheduled_at=scheduled_at,
    )
    _schedule(message)
    return message
