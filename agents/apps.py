from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Erasure, retention, exports and opt-outs reach conversations and messages through the
        # privacy area's holders (identity never imports agents); the providers' webhooks hand over
        # inbound messages and delivery receipts through the messages hook (integrations never
        # imports agents).
        from agents.inbound import delivery_receipt_receive, inbound_message_receive
        from agents.privacy import HOLDER
        from identity.privacy.holders import holder_register
        from integrations.messagehooks import delivery_receipt_receiver_register, inbound_message_receiver_register

        holder_register(HOLDER)
        inbound_message_receiver_register(inbound_message_receive)
        delivery_receipt_receiver_register(delivery_receipt_receive)
