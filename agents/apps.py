from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Erasure, retention, exports and opt-outs reach conversations and messages through the
        # privacy area's holders (identity never imports agents).
        from agents.privacy import HOLDER
        from identity.privacy.holders import holder_register

        holder_register(HOLDER)
