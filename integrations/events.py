"""The one door from integrations to the timeline: `tracking.services.events_ingest`.

Identity resolution (stitching, rungs) happens there; here we only shape the event and read back the
customer it landed on.
"""

import datetime
import hashlib
from typing import Any

from django.utils import timezone

from identity.models import Customer
from identity.purposes import provider_event_purpose
from tracking.models import Event
from tracking.services import EventInput, events_ingest
from workspaces.models import Workspace


def event_record(
    *,
    workspace: Workspace,
    event: str,
    source: str,
    provider: str,
    message_id: str,
    occurred_at: datetime.datetime | None = None,
    properties: dict[str, Any] | None = None,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
    visitor_id: str | None = None,
    external_ids: dict[str, str] | None = None,
    traits: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    url: str | None = None,
    phone_channel: bool = False,
    account_signal: bool = False,
) -> Event | None:
    """Ingest one event; return it (also when it was a duplicate of an earlier delivery), or None when
    the person's preferences refuse its purpose (identity.purposes.provider_event_purpose decides it
    from the provider and the event: payments and bookings are kept, marketing engagement is not)."""
    message_id = message_id_fit(message_id)
    item = EventInput(
        event=event,
        source=source,
        occurred_at=occurred_at or timezone.now(),
        sent_at=None,
        properties=properties or {},
        visitor_id=visitor_id,
        session_id=None,
        message_id=message_id,
        url=url,
        referrer=None,
        user_agent=None,
        email=email or None,
        phone=phone or None,
        user_id=user_id or None,
        external_ids=external_ids or {},
        traits=traits or {},
        context=context or {},
        phone_channel=phone_channel,
        account_signal=account_signal,
        purpose=provider_event_purpose(provider=provider, event=event, account_signal=account_signal),
    )
    result = events_ingest(workspace=workspace, events=[item])
    if result.rejected:
        raise EventRejected(str(result.rejected))
    return Event.objects.filter(workspace=workspace, message_id=message_id).select_related("customer").first()


MAX_MESSAGE_ID = 128


def message_id_fit(message_id: str) -> str:
    """`<provider>:<provider event id>`, hashed when the provider's id is too long to store (Calendly
    ids are URIs); the hash keeps it stable, so re-deliveries still dedupe."""
    if len(message_id) <= MAX_MESSAGE_ID:
        return message_id
    provider, _, rest = message_id.partition(":")
    return f"{provider[:40]}:sha256:{hashlib.sha256(rest.encode()).hexdigest()}"


def event_customer(event: Event | None) -> Customer | None:
    """The live customer an event belongs to (following merges)."""
    if event is None or event.customer is None:
        return None
    customer = event.customer
    seen = 0
    while customer.merged_into_id is not None and seen < 10:
        customer = Customer.objects.get(pk=customer.merged_into_id)
        seen += 1
    return customer


class EventRejected(Exception):
    """events_ingest refused the event (bad shape): a processing error worth recording."""
