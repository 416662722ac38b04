"""Emails to end customers. Sent after commit; the address is never stored with the request."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from identity.models import Customer, DataSubjectRequest
from identity.privacy.tokens import DSR_VERIFY_MAX_AGE, dsr_verify_url, preferences_url


def dsr_verification_send(*, request: DataSubjectRequest, email: str) -> None:
    context = {
        "request_obj": request,
        "workspace": request.workspace,
        "url": dsr_verify_url(request),
        "valid_days": DSR_VERIFY_MAX_AGE.days,
    }
    subject = render_to_string("privacy/email/dsr_verify_subject.txt", context).strip()
    body = render_to_string("privacy/email/dsr_verify.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))


def preferences_link_send(*, customer: Customer) -> None:
    """The person's own preferences link, to the email on record only (asked for from a device link)."""
    context = {"workspace": customer.workspace, "url": preferences_url(customer)}
    subject = render_to_string("privacy/email/preferences_link_subject.txt", context).strip()
    body = render_to_string("privacy/email/preferences_link.txt", context)
    email = customer.email
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))
