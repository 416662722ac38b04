from django.apps import AppConfig


class EnrichmentConfig(AppConfig):
    name = "enrichment"
    verbose_name = "Enrichment and intent"

    def ready(self) -> None:
        # The post-stitch hook enqueues enrichment and scoring (enrichment.tasks); a high-intent
        # moment goes on to the destinations that subscribe to it.
        from enrichment.moments import high_intent_visitor_subscribe, high_intent_visitor_to_destinations
        from enrichment.tasks import events_process_enqueue
        from tracking.hooks import stitched_receiver_register

        stitched_receiver_register(events_process_enqueue)
        high_intent_visitor_subscribe(high_intent_visitor_to_destinations)
