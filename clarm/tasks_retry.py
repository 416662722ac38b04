"""The one retry policy for Celery tasks that only touch the database."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from celery import Task, shared_task
from django.db import OperationalError

_P = ParamSpec("_P")
_R = TypeVar("_R")


def db_task(name: str, *, max_retries: int = 5) -> Callable[[Callable[_P, _R]], Task[_P, _R]]:
    """`shared_task` retried with backoff (capped at 10 minutes) on database hiccups (OperationalError:
    connection lost, lock timeout), never on bugs."""
    return shared_task(
        name=name,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        retry_backoff_max=600,
        max_retries=max_retries,
    )
