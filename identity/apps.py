from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        # The stitcher hears of appends (CLARM_STITCH_INLINE); consent records and the dashboard's
        # rollups hear of stitched events. Both are hooks of tracking, the layer below.
        from identity.privacy.consent_processor import events_stitched as consent_events_stitched
        from identity.rollups.hooks import events_stitched as rollups_events_stitched
        from identity.stitching.stitcher import stitch_inline
        from tracking.hooks import appended_receiver_register, stitched_receiver_register

        appended_receiver_register(stitch_inline)
        stitched_receiver_register(consent_events_stitched)
        stitched_receiver_register(rollups_events_stitched)
