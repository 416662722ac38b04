"""Clicks on tracked links and opens of email pixels, recorded on the person the link went to."""

import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import F
from django.utils import timezone

from identity.models import Customer
from integrations.errors import IntegrationInputError
from integrations.events import event_record
from integrations.models import LinkChannel, LinkKind, TrackedLink
from tracking.models import Source
from workspaces.models import Workspace

PHONE_LINK_CHANNELS = (LinkChannel.SMS, LinkChannel.WHATSAPP)


def link_by_code(*, code: str, kind: str) -> TrackedLink | None:
    if not code or len(code) > 32 or "\x00" in code:  # PostgreSQL text cannot hold NUL
        return None
    return TrackedLink.objects.select_related("workspace", "customer").filter(code=code, kind=kind).first()


def link_destination(link: TrackedLink) -> str:
    """The stored target, with the link's UTM parameters added where the target has none."""
    parts = urlsplit(link.target_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra = {k: v for k, v in link.utm.items() if k not in query}
    if not extra:
        return link.target_url
    joined = (parts.query + "&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


def _claims(link: TrackedLink, visitor_id: str | None) -> dict[str, object]:
    customer = link.customer
    claims: dict[str, object] = {"visitor_id": visitor_id}
    if customer is None:
        return claims
    if link.channel in PHONE_LINK_CHANNELS and customer.phone:
        # A click on a link sent by SMS/WhatsApp is a phone-channel signal (rung 3).
        claims.update(phone=customer.phone, phone_channel=True)
    elif customer.email:
        claims["email"] = customer.email
    elif customer.phone:
        claims["phone"] = customer.phone
    return claims


def link_click_record(*, link: TrackedLink, visitor_id: str | None = None) -> None:
    TrackedLink.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1)
    claims = _claims(link, visitor_id)
    if not any(claims.get(k) for k in ("visitor_id", "email", "phone")):
        return  # nobody to attach the click to: counted on the link only
    event_record(
        workspace=link.workspace,
        event="link_clicked",
        provider="link",
        source=Source.PIXEL,
        message_id=f"link:{link.code}:{uuid.uuid4().hex}",
        occurred_at=timezone.now(),
        properties={
            "title": "Tracked link clicked",
            "link": link.label or link.target_url[:200],
            "target_url": link.target_url,
            "channel": link.channel,
            **link.utm,
            **({"message": link.message_id} if link.message_id else {}),
        },
        **claims,
    )


def pixel_open_record(*, pixel: TrackedLink) -> None:
    TrackedLink.objects.filter(pk=pixel.pk).update(clicks=F("clicks") + 1)
    customer = pixel.customer
    if customer is None or not customer.email:
        return
    # Mail clients fetch images several times; one open per minute is enough for the timeline.
    minute = timezone.now().strftime("%Y%m%d%H%M")
    event_record(
        workspace=pixel.workspace,
        event="email_opened",
        provider="pixel",
        source=Source.PIXEL,
        message_id=f"pixel:{pixel.code}:{minute}",
        occurred_at=timezone.now(),
        properties={"title": "Email opened", **({"message": pixel.message_id} if pixel.message_id else {})},
        email=customer.email,
    )


__all__ = ["LinkKind", "link_by_code", "link_click_record", "link_destination", "pixel_open_record"]


_url = URLValidator(schemes=["http", "https"])


def target_url_validate(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise IntegrationInputError("target_url is required.")
    if len(value) > 2000:
        raise IntegrationInputError("target_url is longer than 2000 characters.")
    try:
        _url(value)
    except ValidationError as exc:
        raise IntegrationInputError("target_url must be an absolute http(s) URL.") from exc
    return value


def link_create(
    *,
    workspace: Workspace,
    target_url: str,
    channel: str = LinkChannel.OTHER,
    customer_id: int | None = None,
    label: str = "",
    utm: dict[str, str] | None = None,
    message_id: int | None = None,
    kind: str = LinkKind.LINK,
) -> TrackedLink:
    if kind == LinkKind.LINK:
        target_url = target_url_validate(target_url)
    if channel not in LinkChannel.values:
        raise IntegrationInputError(f"channel must be one of {', '.join(LinkChannel.values)}.")
    customer = None
    if customer_id is not None:
        # Scoped to the workspace: another workspace's customer id is "not there".
        customer = Customer.objects.filter(workspace=workspace, pk=customer_id).first()
        if customer is None:
            raise IntegrationInputError("No such customer in this workspace.")
    utm = utm or {}
    return TrackedLink.objects.create(
        workspace=workspace,
        kind=kind,
        target_url=target_url,
        channel=channel,
        customer=customer,
        label=label[:120],
        message_id=message_id,
        **{f"utm_{k}": (utm.get(k) or "")[:100] for k in ("source", "medium", "campaign", "term", "content")},
    )
