"""The rollups' processor hears of stitched events through the post-stitch hook (tracking.hooks)."""

from identity.tasks import rollups_schedule


def events_stitched(workspace_id: int, event_ids: list[int]) -> None:
    """Schedule the workspace's rollup run (debounced; it counts everything above its watermark)."""
    rollups_schedule(workspace_id)
