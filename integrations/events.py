"""The one door from integrations to the timeline: the edge (`tracking.services.events_ingest`)
and the stitcher at once (`identity.stitching.stitcher.events_ingest_stitched`), so the customer an
event landed on can be read back as soon as it returns.
"""

import datetime
from typing import Any

from django.utils import timezone

from identity.models import Customer
from identity.stitching.stitcher import events_ingest_stitched
from tracking.dedupe import server_dedupe_key
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.purposes import provider_event_purpose
from workspaces.models import Workspace


def event_input(
    *,
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
) -> EventInput:
    """One event of an integration, shaped for `events_ingest`.

    `message_id` is `<namespace>:<id>` (`stripe:evt_…`, `twilio:SM…`, `message:12:sent`): stored as
    Clarm's own dedupe key (tracking.dedupe), which no write-key caller can claim."""
    return EventInput(
        event=event,
        source=source,
        occurred_at=occurred_at or timezone.now(),
        sent_at=None,
        properties=properties or {},
        visitor_id=visitor_id,
        session_id=None,
        server_key=_key(message_id),
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


def event_record(*, workspace: Workspace, provider: str, **fields: Any) -> Event | None:
    """Ingest one event (the fields of `event_input`); return it (also when it was a duplicate of an
    earlier delivery), or None when the person's preferences refuse its purpose
    (tracking.purposes.provider_event_purpose: payments and bookings are kept, marketing is not)."""
    item = event_input(provider=provider, **fields)
    result = events_ingest_stitched(workspace=workspace, events=[item])
    if result.rejected:
        raise EventRejected(str(result.rejected))
    return event_by_key(workspace=workspace, item=item)


def event_by_key(*, workspace: Workspace, item: EventInput) -> Event | None:
    """The stored event of an `event_input` (with its customer)."""
    return Event.objects.filter(workspace=workspace, message_id=item.server_key).select_related("customer").first()


def _key(message_id: str) -> str:
    namespace, _, event_id = message_id.partition(":")
    return server_dedupe_key(namespace, event_id)


def recorded_event(*, workspace: Workspace, message_id: str) -> Event | None:
    """The event `event_record` stored under this `<namespace>:<id>`, if any."""
    return Event.objects.filter(workspace=workspace, message_id=_key(message_id)).first()


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
