"""What the providers' webhooks hand over (integrations.messagehooks): inbound messages filed in
the person's conversation, delivery receipts applied to our outbound messages. Registered in
AgentsConfig.ready()."""

from django.utils import timezone

from agents.messaging import message_inbound_record
from agents.models import Message, MessageStatus
from identity.models import Customer
from integrations.messagehooks import DeliveryReceipt, InboundMessage


def inbound_message_receive(inbound: InboundMessage) -> None:
    message_inbound_record(
        workspace=inbound.workspace,
        customer=inbound.customer,
        channel=inbound.channel,
        body=inbound.body,
        provider_message_id=inbound.provider_message_id,
        at=inbound.at,
    )


def delivery_receipt_receive(receipt: DeliveryReceipt) -> Customer | None:
    """The message's new status (a cancelled message keeps its own). By our own id (SendGrid): one
    UPDATE, None. By the provider's id (Twilio): the customer the message was sent to, or None."""
    status = MessageStatus(receipt.status)
    messages = Message.objects.filter(workspace=receipt.workspace, channel=receipt.channel)
    if receipt.message_id is not None:
        messages.filter(pk=receipt.message_id).exclude(status=MessageStatus.CANCELLED).update(
            status=status, updated_at=timezone.now()
        )
        return None
    message = messages.filter(provider_message_id=receipt.provider_message_id).select_related("customer").first()
    if message is None:
        return None
    if message.status != MessageStatus.CANCELLED:
        Message.objects.filter(pk=message.pk).update(
            status=status, error=receipt.error or message.error, updated_at=timezone.now()
        )
    return message.customer
