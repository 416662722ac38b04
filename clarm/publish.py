"""Sending a Celery task without letting the broker decide how long a request takes.

Every answer to a provider or an ingest client is given within 2 s whatever the broker does
(refuses, drops packets, answers a byte at a time). What a publish is for is always stored first
(a webhook delivery, an event), so a task that could not be sent is not lost: a periodic sweep
finds the stored work nobody processed and sends it again (integrations.deliveries_resume,
identity.consent_records_resume). Tasks are idempotent, so a publish that times out here but
reaches the broker later only runs the work twice to the same result."""

import logging
import threading
import time
from typing import Any

from celery import Task

logger = logging.getLogger(__name__)

# The broker's own socket timeouts (settings: CELERY_BROKER_TRANSPORT_OPTIONS) end most failures
# sooner; this bounds the rest.
PUBLISH_TIMEOUT_SECONDS = 1.0
# After a failed publish, this process does not try again for this long (a webhook batch of 500
# deliveries must not wait 500 timeouts); the sweep sends what was skipped.
BROKER_PAUSE_SECONDS = 5.0

_paused_until = 0.0


def task_publish(task: Task, *args: Any, timeout: float = PUBLISH_TIMEOUT_SECONDS, **options: Any) -> bool:
    """Send `task(*args)` (with apply_async `options`, e.g. eta); True once the broker took it,
    False when it refused or did not answer within `timeout`, or failed less than
    BROKER_PAUSE_SECONDS ago (logged; the sweep resends)."""
    global _paused_until
    if time.monotonic() < _paused_until and not task.app.conf.task_always_eager:
        logger.info("broker failed just before; task %s left to the sweep", task.name)
        return False
    outcome: dict[str, BaseException | bool] = {}

    def send() -> None:
        try:
            task.apply_async(args=args, retry=False, **options)
            outcome["sent"] = True
        except Exception as exc:
            outcome["error"] = exc

    if task.app.conf.task_always_eager:
        send()  # runs the task here (tests, or an install without a worker): no broker to wait on
    else:
        sender = threading.Thread(target=send, name=f"publish-{task.name}", daemon=True)
        sender.start()
        sender.join(timeout)
    if outcome.get("sent"):
        return True
    _paused_until = time.monotonic() + BROKER_PAUSE_SECONDS
    error = outcome.get("error")
    if error is None:
        logger.warning("broker did not take task %s within %.1f s; the sweep will send it", task.name, timeout)
    else:
        logger.warning("could not send task %s (%s); the sweep will send it", task.name, error)
    return False


def broker_pause_forget() -> None:
    """Try the broker again at the next publish (tests)."""
    global _paused_until
    _paused_until = 0.0
