"""The Task class of every Clarm task: no message waits in a worker longer than the broker's
visibility timeout.

With Redis, a worker acknowledges a task only once it ran (acks_late), so a worker killed with
kill -9 leaves its tasks in Redis's "unacked" set, and any live worker puts them back on the queue
once they are older than `visibility_timeout` (CELERY_BROKER_TRANSPORT_OPTIONS): the task runs
again within about a minute instead of an hour. The catch (kombu's Redis transport): a task held
by a live worker longer than that timeout, such as a retry with a 10-minute countdown, would be put
back too and run twice. So a countdown or ETA longer than HOP_SECONDS is sent as a short "hop"
(clarm.task_hop) that re-sends itself until the task is due; no message is ever held longer than
HOP_SECONDS. Tasks that run longer than the visibility timeout opt out of acks_late (see
clarm.tasks_retry.db_task)."""

import datetime
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

HOP_SECONDS = 25
# What a hop carries over to the task it finally sends (the rest is Celery's call plumbing).
_KEPT_OPTIONS = ("task_id", "retries", "queue", "priority", "expires")


class BoundedDelayTask(Task):
    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        due = _due(options.get("countdown"), options.get("eta"))
        if due is not None and not self.app.conf.task_always_eager:
            wait = (due - timezone.now()).total_seconds()
            if wait > HOP_SECONDS:
                kept = {k: v for k, v in options.items() if k in _KEPT_OPTIONS and v is not None}
                if task_id:
                    kept["task_id"] = task_id
                return task_hop.apply_async(
                    args=(self.name, list(args or ()), dict(kwargs or {}), due.isoformat(), kept),
                    countdown=HOP_SECONDS,
                )
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)


def _due(countdown: float | None, eta: datetime.datetime | str | None) -> datetime.datetime | None:
    if eta is not None:
        when = datetime.datetime.fromisoformat(eta) if isinstance(eta, str) else eta
        return when if timezone.is_aware(when) else timezone.make_aware(when, datetime.UTC)
    if countdown:
        return timezone.now() + datetime.timedelta(seconds=float(countdown))
    return None


@shared_task(name="clarm.task_hop", acks_late=True)
def task_hop(name: str, args: list[Any], kwargs: dict[str, Any], due: str, options: dict[str, Any]) -> str:
    """Send `name` when it is due: at once with the rest of the wait as countdown, or (still more
    than HOP_SECONDS away) as another hop. Idempotent with the tasks it sends."""
    wait = max(0.0, (datetime.datetime.fromisoformat(due) - timezone.now()).total_seconds())
    task = task_hop.app.tasks[name]
    task.apply_async(args=tuple(args), kwargs=kwargs, countdown=wait, **options)
    return name
