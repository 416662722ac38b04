"""What the privacy area does with the agents' rows about people (identity.privacy.holders;
registered in AgentsConfig.ready()): conversations and messages."""

from datetime import datetime

from django.db.models import Exists, OuterRef
from django.utils import timezone

from agents.models import Channel, Conversation, Message, MessageStatus
from identity.models import ConsentPurpose
from identity.privacy.holders import PersonalDataHolder, PersonDeletion
from identity.privacy.retention import batched_delete
from identity.privacy.zipentries import Entry, query_entry
from workspaces.models import Workspace

MESSAGE_FIELDS = [
    "id",
    "conversation_id",
    "customer_id",
    "channel",
    "direction",
    "subject",
    "body",
    "status",
    "marketing",
    "scheduled_at",
    "sent_at",
    "created_at",
]
# Marketing channels a purpose covers, for cancelling queued outbound messages.
PURPOSE_CHANNELS: dict[str, tuple[str, ...]] = {
    ConsentPurpose.MARKETING_EMAIL: (Channel.EMAIL,),
    ConsentPurpose.MARKETING_SMS: (Channel.SMS, Channel.WHATSAPP, Channel.VOICE),
}


def person_collect(deletion: PersonDeletion) -> None:
    """Provider message ids of the person's messages: they appear in status callbacks that may not
    name the person otherwise (integrations' holder deletes the payloads holding them). The messages
    themselves go with the customer (foreign key)."""
    sids = (
        Message.objects.filter(workspace=deletion.workspace, customer_id__in=deletion.customer_ids)
        .exclude(provider_message_id="")
        .values_list("provider_message_id", flat=True)
    )
    deletion.provider_ids.extend(s for s in sids if len(s) >= 6)


def customers_with_rows(customer_ids: list[int]) -> set[int]:
    return set(Message.objects.filter(customer_id__in=customer_ids).values_list("customer_id", flat=True).distinct())


def purge(workspace: Workspace, cutoff: datetime, batch_size: int) -> dict[str, int]:
    """Retention: messages created before the cutoff, and conversations left empty."""
    messages = batched_delete(Message.objects.filter(workspace=workspace, created_at__lt=cutoff), batch_size=batch_size)
    batched_delete(
        Conversation.objects.filter(workspace=workspace, last_message_at__lt=cutoff).exclude(
            Exists(Message.objects.filter(conversation_id=OuterRef("pk")))
        ),
        batch_size=batch_size,
    )
    return {"messages": messages}


def marketing_cancel(workspace: Workspace, customer_ids: list[int], purposes: list[str]) -> int:
    channels = [c for p in purposes for c in PURPOSE_CHANNELS.get(p, ())]
    if not channels:
        return 0
    return Message.objects.filter(
        workspace=workspace,
        customer_id__in=customer_ids,
        status=MessageStatus.QUEUED,
        marketing=True,
        channel__in=channels,
    ).update(status=MessageStatus.CANCELLED, error="Cancelled: the customer opted out", updated_at=timezone.now())


def person_entries(workspace: Workspace, customer_ids: list[int], fmt: str) -> list[Entry]:
    messages = Message.objects.filter(workspace=workspace, customer_id__in=customer_ids).order_by("created_at", "id")
    return [query_entry("messages", fmt, messages, MESSAGE_FIELDS)]


def workspace_entries(workspace_id: int, fmt: str) -> list[Entry]:
    messages = Message.objects.filter(workspace_id=workspace_id).order_by("conversation_id", "created_at", "id")
    return [query_entry("conversations", fmt, messages, MESSAGE_FIELDS)]


def workspace_rows(workspace_id: int) -> int:
    return Message.objects.filter(workspace_id=workspace_id).count()


HOLDER = PersonalDataHolder(
    name="agents",
    order=20,
    person_collect=person_collect,
    deleted_counts={"messages": "agents.Message"},
    customers_with_rows=customers_with_rows,
    purge=purge,
    marketing_cancel=marketing_cancel,
    person_entries=person_entries,
    workspace_entries=workspace_entries,
    workspace_rows=workspace_rows,
)
