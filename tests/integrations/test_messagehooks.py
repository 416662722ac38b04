"""The messages hook (integrations.messagehooks): the providers' webhooks hand inbound messages and
delivery receipts to agents without importing it. Without a receiver nothing is dropped: the
delivery fails naming the problem, and a replay once the receiver is back files the message."""

import typing

import pytest

from agents.models import Channel, Message, MessageStatus
from clarm.celery_app import app as celery_app
from integrations import messagehooks
from integrations.deliveryprocess import delivery_process
from integrations.models import DeliveryStatus, WebhookDelivery
from tests.integrations.conftest import fixture_json
from tests.integrations.test_twilio import form_with
from tracking.models import Event


def sent_message(customer, channel: str, status: str, provider_message_id: str) -> Message:
    """An outbound message of the person's, as the send path stores it."""
    return Message.objects.create(
        workspace=customer.workspace,
        customer=customer,
        channel=channel,
        direction="out",
        body="Quote attached",
        status=status,
        provider_message_id=provider_message_id,
    )


def test_the_hook_speaks_agents_channels_and_statuses():
    assert {messagehooks.SMS, messagehooks.WHATSAPP, messagehooks.EMAIL, messagehooks.VOICE} <= set(Channel.values)
    assert set(typing.get_args(messagehooks.ReceiptStatus)) <= set(MessageStatus.values)


def test_the_send_tasks_keep_their_names_for_the_worker():
    """Messages already queued name these tasks; a worker (which loads every app's tasks) knows them."""
    celery_app.loader.import_default_modules()
    assert {"integrations.message_send", "integrations.messages_send"} <= set(celery_app.tasks)


def test_without_a_receiver_an_inbound_sms_fails_its_delivery_and_a_replay_files_it(
    tenant, twilio_a, post_twilio, monkeypatch
):
    monkeypatch.setattr(messagehooks, "_inbound_receivers", [])
    params = fixture_json("twilio_sms_inbound.json")
    assert post_twilio(tenant.workspace, params).status_code == 200
    delivery = WebhookDelivery.objects.get(workspace=tenant.workspace, provider="twilio")
    assert delivery.status == DeliveryStatus.FAILED and "No app keeps inbound messages" in delivery.last_error
    assert not Message.objects.exists() and not Event.objects.filter(event="sms_received").exists()

    monkeypatch.undo()
    assert delivery_process(delivery_id=delivery.pk) == DeliveryStatus.PROCESSED
    message = Message.objects.get(workspace=tenant.workspace)
    assert message.provider_message_id == params["MessageSid"] and message.status == MessageStatus.RECEIVED


def test_without_a_receiver_a_receipt_fails_its_delivery_and_leaves_the_message_as_it_was(
    tenant, twilio_a, post_twilio, monkeypatch
):
    customer = form_with(tenant.workspace)
    message = sent_message(customer, Channel.SMS, MessageStatus.SENT, "SM0123456789abcdef0123456789abcdef")
    monkeypatch.setattr(messagehooks, "_receipt_receivers", [])
    post_twilio(tenant.workspace, fixture_json("twilio_status_delivered.json"))
    delivery = WebhookDelivery.objects.get(workspace=tenant.workspace, provider="twilio")
    assert delivery.status == DeliveryStatus.FAILED and "No app keeps delivery receipts" in delivery.last_error
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT

    monkeypatch.undo()
    assert delivery_process(delivery_id=delivery.pk) == DeliveryStatus.PROCESSED
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


SMTP_ID = "<abc@clarm.localhost>"


@pytest.mark.parametrize("status", ["delivered", "failed"])
def test_a_receipt_never_revives_a_cancelled_message(tenant, status):
    customer = form_with(tenant.workspace)
    message = sent_message(customer, Channel.EMAIL, MessageStatus.CANCELLED, SMTP_ID)
    by_our_id = messagehooks.DeliveryReceipt(
        workspace=tenant.workspace, channel=messagehooks.EMAIL, status=status, message_id=message.pk
    )
    by_provider_id = messagehooks.DeliveryReceipt(
        workspace=tenant.workspace, channel=messagehooks.EMAIL, status=status, provider_message_id=SMTP_ID
    )
    assert messagehooks.delivery_receipt_hand_over(by_our_id) is None
    assert messagehooks.delivery_receipt_hand_over(by_provider_id) == customer
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
