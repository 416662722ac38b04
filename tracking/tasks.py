"""Celery tasks of tracking: ids in, idempotent."""

from clarm.tasks_retry import db_task
from tracking.services import ip_salts_rotate as ip_salts_rotate_service


@db_task("tracking.ip_salts_rotate")
def ip_salts_rotate() -> int:
    """Nightly (beat: rotate-ip-salts): forget the IP salts older than a day."""
    return ip_salts_rotate_service()
