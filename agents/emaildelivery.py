"""Composing and sending one queued email (called by agents.messagedelivery with the message locked)
through Django's email backend (SendGrid's SMTP relay in production).

Every http(s) link is rewritten to a tracked link `/l/<code>`, an open pixel `/o/<code>.gif` is added,
and marketing mail carries RFC 8058 one-click unsubscribe headers. SendGrid events come back with our
message id through the SMTP API unique args (`X-SMTPAPI`), so delivery/bounce update the message."""

import html
import json
import re
import smtplib
from email.utils import make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from agents.models import Message, MessageStatus
from identity.privacy.tokens import unsubscribe_url
from integrations.errors import MessageSendRetryable
from integrations.links import link_create
from integrations.models import LinkChannel, LinkKind, TrackedLink

_HREF = re.compile(r"""(?P<attr>\bhref\s*=\s*)(?P<q>["'])(?P<url>https?://[^"']+)(?P=q)""", re.IGNORECASE)


def links_rewrite(*, message: Message, body: str) -> str:
    """Replace every http(s) href with a tracked link of this message and customer."""

    def swap(match: re.Match[str]) -> str:
        target = html.unescape(match.group("url"))
        link = link_create(
            workspace=message.workspace,
            target_url=target,
            channel=LinkChannel.EMAIL,
            customer_id=message.customer_id,
            message_id=message.pk,
        )
        url = settings.CLARM_PUBLIC_URL + reverse("integrations:link", kwargs={"code": link.code})
        return f"{match.group('attr')}{match.group('q')}{html.escape(url)}{match.group('q')}"

    return _HREF.sub(swap, body)


def pixel_tag(*, message: Message) -> str:
    pixel = TrackedLink.objects.create(
        workspace=message.workspace,
        kind=LinkKind.PIXEL,
        channel=LinkChannel.EMAIL,
        customer_id=message.customer_id,
        message=message,
    )
    src = settings.CLARM_PUBLIC_URL + reverse("integrations:pixel", kwargs={"code": pixel.code})
    return f'<img src="{html.escape(src)}" width="1" height="1" alt="" style="display:none">'


def _unsubscribe_mailto() -> str:
    address = getattr(settings, "CLARM_UNSUBSCRIBE_MAILTO", "") or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return f"mailto:{address}?subject=unsubscribe"


def email_deliver(message: Message) -> None:
    """Compose and send (called by `messagedelivery.message_deliver` with the message locked)."""
    customer = message.customer
    body = links_rewrite(message=message, body=message.body)
    pixel = pixel_tag(message=message)
    body = body.replace("</body>", pixel + "</body>") if "</body>" in body else body + pixel
    text = html.unescape(strip_tags(message.body)).strip()  # the plain part: "you're", not "you&#x27;re"
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].partition("@")[2] or "clarm.localhost"
    message_id = make_msgid(domain=domain)
    headers = {
        "Message-ID": message_id,
        "X-SMTPAPI": json.dumps({"unique_args": {"clarm_message_id": str(message.pk)}}),
    }
    if message.marketing:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(customer, 'marketing_email')}>, <{_unsubscribe_mailto()}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=message.subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[customer.email], headers=headers
    )
    email.attach_alternative(body, "text/html")
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        message.status, message.error = MessageStatus.FAILED, f"Recipient refused: {exc}"[:300]
        return
    except (smtplib.SMTPException, OSError) as exc:
        raise MessageSendRetryable(str(exc)) from exc
    message.status, message.provider_message_id, message.sent_at = MessageStatus.SENT, message_id, timezone.now()
