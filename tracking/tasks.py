"""Celery tasks of tracking: ids in, idempotent."""

from clarm.tasks_retry import db_task
from tracking.partitions import event_months_ahead as event_months_ahead_service
from tracking.services import ip_salts_rotate as ip_salts_rotate_service
from workspaces.retention import retention_horizon


@db_task("tracking.ip_salts_rotate")
def ip_salts_rotate() -> int:
    """Nightly (beat: rotate-ip-salts): forget the IP salts older than a day."""
    return ip_salts_rotate_service()


@db_task("tracking.event_months_ahead")
def event_months_ahead() -> list[str]:
    """Daily (beat: event-months-ahead): the months of events ahead exist, and the DEFAULT partition
    keeps only what retention deletes next (tracking.partitions). A lock timeout is retried."""
    return event_months_ahead_service(horizon=retention_horizon())
