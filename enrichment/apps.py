from django.apps import AppConfig


class EnrichmentConfig(AppConfig):
    name = "enrichment"
    verbose_name = "Enrichment and intent"

    def ready(self) -> None:
        # The write path's after-commit hook enqueues enrichment and scoring (enrichment.tasks).
        from enrichment.tasks import events_process_enqueue
        from tracking.hooks import events_committed_subscribe

        events_committed_subscribe(events_process_enqueue)
