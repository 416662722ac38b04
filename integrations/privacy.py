"""What the privacy area does with integrations' rows about people (identity.privacy.holders;
registered in IntegrationsConfig.ready()): stored raw webhook payloads that mention a person or
produced one of their events, tracked links, and the person's records at destinations."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Q

from identity.privacy.erasure import BATCH_SIZE, text_match
from identity.privacy.holders import PersonalDataHolder, PersonDeletion
from identity.privacy.retention import batched_delete
from integrations.destinations.services import destination_erasures_queue
from integrations.models import Provider, TrackedLink, WebhookDelivery
from tracking.models import Event
from workspaces.models import Workspace


def _produced(*, workspace: Workspace, customer_ids: list[int]) -> Q:
    """The stored deliveries that produced one of the person's events (`message_id` =
    "<provider>:<delivery id>[:…]"). Read before the events go."""
    delivery_ids: dict[str, set[str]] = {provider: set() for provider in Provider.values}
    message_ids = Event.objects.filter(workspace=workspace, customer_id__in=customer_ids).filter(
        message_id__regex=rf"^({'|'.join(Provider.values)}):"
    )
    for message_id in message_ids.values_list("message_id", flat=True).iterator(chunk_size=BATCH_SIZE):
        provider, _, rest = (message_id or "").partition(":")
        # The delivery id may itself hold ":" (Calendly's "<event>:<uri>") and may be followed by
        # ":<intent>" (Twilio): every prefix at a ":" is a candidate.
        parts = rest.split(":")
        delivery_ids[provider].update(":".join(parts[:k]) for k in range(1, len(parts) + 1))
    produced = Q(pk__in=[])
    for provider, ids in delivery_ids.items():
        if ids:
            produced |= Q(provider=provider, provider_event_id__in=sorted(ids))
    return produced


def _payloads_delete(*, workspace: Workspace, needles: list[str], produced: Q) -> int:
    condition = produced
    annotations: dict[str, Any] = {}
    if needles:
        annotations, matches = text_match(WebhookDelivery, ["body", "headers", "last_error"], needles)
        condition |= matches
    ids = list(
        WebhookDelivery.objects.filter(workspace=workspace)
        .annotate(**annotations)
        .filter(condition)
        .values_list("pk", flat=True)
    )
    deleted, _ = WebhookDelivery.objects.filter(pk__in=ids).delete()
    return deleted


def person_collect(deletion: PersonDeletion) -> Callable[[], dict[str, int]]:
    produced = _produced(workspace=deletion.workspace, customer_ids=deletion.customer_ids)

    def delete() -> dict[str, int]:
        workspace = deletion.workspace
        needles = [*deletion.needles, *deletion.provider_ids]
        outcome = {"webhook_payloads": _payloads_delete(workspace=workspace, needles=needles, produced=produced)}
        if deletion.erasure:
            # CRMs that can delete get a delete of the person's record (sent after commit); the person's
            # other destination deliveries go with their rows. docs/destinations.md names who cannot delete.
            outcome["destination_deletes_queued"] = destination_erasures_queue(
                workspace=workspace, customer_ids=deletion.customer_ids
            )
        return outcome

    return delete


def purge(workspace: Workspace, cutoff: datetime, batch_size: int) -> dict[str, int]:
    """Retention: raw payloads received before the cutoff, and tracked links made before it for a
    person or a message (before the messages go: their link to a message would only be cleared)."""
    payloads = batched_delete(
        WebhookDelivery.objects.filter(workspace=workspace, received_at__lt=cutoff), batch_size=batch_size
    )
    batched_delete(
        TrackedLink.objects.filter(workspace=workspace, created_at__lt=cutoff).filter(
            Q(customer__isnull=False) | Q(message__isnull=False)
        ),
        batch_size=batch_size,
    )
    return {"payloads": payloads}


# Before the agents' holder: tracked links go before the messages they were made for.
HOLDER = PersonalDataHolder(name="integrations", order=10, person_collect=person_collect, purge=purge)
