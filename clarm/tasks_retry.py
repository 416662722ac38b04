"""The one retry policy for Celery tasks that only touch the database."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from celery import Task, shared_task
from django.db import OperationalError

_P = ParamSpec("_P")
_R = TypeVar("_R")


def db_task(
    name: str, *, max_retries: int = 5, long_running: bool = False
) -> Callable[[Callable[_P, _R]], Task[_P, _R]]:
    """`shared_task` retried with backoff (capped at 10 minutes) on database hiccups (OperationalError:
    connection lost, lock timeout), never on bugs.

    `long_running`: the task may run longer than the broker's visibility timeout, so it is
    acknowledged when it starts (acks_late would let a live worker's running task be put back on
    the queue and run twice). A worker killed during it loses that run; such tasks are re-run by
    their schedule or their job row, not by the broker."""
    return shared_task(
        name=name,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        retry_backoff_max=600,
        max_retries=max_retries,
        acks_late=not long_running,
    )
