"""A task for bench/soak.py only (loaded with `celery worker --include bench.soak_tasks`): it runs
long enough to be killed mid-run and records each start and finish in the soak's Redis, so the
soak can tell when the killed worker's task ran again."""

import os
import time

import redis
from celery import shared_task
from django.conf import settings


@shared_task(name="bench.soak_slow")
def soak_slow(token: str, seconds: float) -> str:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(f"soak:{token}:started", f"{time.time()}:{os.getpid()}:{os.getppid()}")
    time.sleep(seconds)
    client.rpush(f"soak:{token}:finished", f"{time.time()}:{os.getpid()}")
    return token
