from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Destinations listen to the post-stitch hook and the preferences hook; their Celery tasks
        # register by import. Erasure and retention reach raw payloads, tracked links and destination
        # records through the privacy area's holders (identity never imports integrations).
        from identity.privacy.holders import holder_register
        from identity.privacy.hooks import preferences_receiver_register
        from integrations.destinations import tasks  # noqa: F401
        from integrations.destinations.hooks import events_stitched, preferences_changed
        from integrations.privacy import HOLDER
        from tracking.hooks import stitched_receiver_register

        stitched_receiver_register(events_stitched)
        preferences_receiver_register(preferences_changed)
        holder_register(HOLDER)
