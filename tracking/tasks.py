"""Celery tasks of tracking: ids in, idempotent."""

from celery import shared_task
from django.db import OperationalError

from tracking.services import ip_salts_rotate as ip_salts_rotate_service


@shared_task(
    name="tracking.ip_salts_rotate",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def ip_salts_rotate() -> int:
    """Nightly (beat: rotate-ip-salts): forget the IP salts older than a day."""
    return ip_salts_rotate_service()
