"""The messages hook: how a provider's webhook hands an inbound message or a delivery receipt to the
app that keeps conversations and messages (agents), which sits above integrations.

A provider module verifies and maps the provider's request, then calls `inbound_message_hand_over`
or `delivery_receipt_hand_over` with a plain dataclass. Agents registers the one receiver of each in
its AppConfig.ready(), so integrations never imports agents. A receiver's error propagates: the
webhook delivery fails, keeps the error and is retried (or replayed by staff). With no receiver
registered, handing over raises `MessageReceiverMissing` the same way: nothing is dropped silently.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from identity.models import Customer
from workspaces.models import Workspace

# The channels providers hand over, spelled as agents' Channel values (a test checks they are).
SMS = "sms"
WHATSAPP = "whatsapp"
EMAIL = "email"
VOICE = "voice"

# What a receipt says became of an outbound message (agents' MessageStatus values).
ReceiptStatus = Literal["delivered", "failed"]


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent us, found to be `customer` by the event the webhook recorded."""

    workspace: Workspace
    customer: Customer
    channel: str
    body: str
    provider_message_id: str
    at: datetime.datetime


@dataclass(frozen=True)
class DeliveryReceipt:
    """What became of one of our outbound messages, named by the provider's message id (Twilio) or by
    our own message id carried through the provider (SendGrid's unique args). `error` replaces the
    message's error when set; a cancelled message keeps its status."""

    workspace: Workspace
    channel: str
    status: ReceiptStatus
    provider_message_id: str = ""
    message_id: int | None = None
    error: str = ""


class MessageReceiverMissing(RuntimeError):
    """No app registered to keep what a provider handed over (agents registers in its ready())."""


InboundMessageReceiver = Callable[[InboundMessage], None]
# Returns the customer the message was sent to when the receipt names it by the provider's id
# (None: no such message, or a receipt by our own id, applied without reading the message).
DeliveryReceiptReceiver = Callable[[DeliveryReceipt], Customer | None]

# One receiver of each (registering again replaces it).
_inbound_receivers: list[InboundMessageReceiver] = []
_receipt_receivers: list[DeliveryReceiptReceiver] = []


def inbound_message_receiver_register(receiver: InboundMessageReceiver) -> None:
    _inbound_receivers[:] = [receiver]


def delivery_receipt_receiver_register(receiver: DeliveryReceiptReceiver) -> None:
    _receipt_receivers[:] = [receiver]


def _missing(what: str) -> MessageReceiverMissing:
    return MessageReceiverMissing(
        f"No app keeps {what}: the agents app registers its receiver in AgentsConfig.ready() "
        "(is it in INSTALLED_APPS?)."
    )


def inbound_message_hand_over(message: InboundMessage) -> None:
    """Give an inbound message to the app that files it in the person's conversation."""
    if not _inbound_receivers:
        raise _missing("inbound messages")
    _inbound_receivers[0](message)


def delivery_receipt_hand_over(receipt: DeliveryReceipt) -> Customer | None:
    """Give a delivery receipt to the app that keeps the message; the customer it was sent to when
    found by the provider's id."""
    if not _receipt_receivers:
        raise _missing("delivery receipts")
    return _receipt_receivers[0](receipt)
