from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Destinations listen to the post-stitch hook; their Celery tasks register by import.
        from integrations.destinations import tasks  # noqa: F401
        from integrations.destinations.hooks import events_stitched
        from tracking.hooks import stitched_receiver_register

        stitched_receiver_register(events_stitched)
