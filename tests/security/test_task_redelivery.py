"""A task whose worker is killed runs again within a minute (acks_late + a 45 s visibility timeout,
restored every 5 s), and no task is held by a worker longer than that timeout, so a live worker's
countdown is never put back and run twice. The kill -9 itself is measured in bench/soak.py."""

import base64
import datetime
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from django.conf import settings
from kombu import Connection, Queue
from kombu.transport.virtual import Channel as VirtualChannel

from clarm.tasks_base import HOP_SECONDS, task_hop
from integrations.tasks import webhook_process
from tests.security.conftest import _celery_use

pytestmark = pytest.mark.postgres_only(
    reason="the Redis broker's visibility timeout; the embedded default uses the filesystem broker"
)


@pytest.fixture
def real_broker() -> Iterator[redis.Redis]:
    url = f"{settings.REDIS_URL.rsplit('/', 1)[0]}/15"
    client = redis.Redis.from_url(url)
    client.flushdb()
    saved_url, saved_eager = webhook_process.app.conf.broker_url, webhook_process.app.conf.task_always_eager
    _celery_use(url, eager=False)
    yield client
    _celery_use(saved_url, eager=saved_eager)
    client.flushdb()


def _queued(client: redis.Redis) -> list[dict]:
    """The messages waiting on the default queue: task name, its arguments and its ETA."""
    out = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        headers = message["headers"]
        out.append({"task": headers["task"], "eta": headers["eta"], "argsrepr": headers["argsrepr"]})
    return out


def _seconds_until(eta: str) -> float:
    return (datetime.datetime.fromisoformat(eta) - datetime.datetime.now(datetime.UTC)).total_seconds()


def test_the_broker_settings_redeliver_a_dead_workers_task_within_a_minute():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    # kombu restores on every tenth call of its restore loop
    assert options["visibility_timeout"] + 10 * options["unacked_restore_interval"] <= 50
    assert options["visibility_timeout"] > HOP_SECONDS


def test_a_short_countdown_is_sent_as_is(real_broker):
    webhook_process.apply_async(args=(7,), countdown=10)
    (message,) = _queued(real_broker)
    assert message["task"] == "integrations.webhook_process" and 8 < _seconds_until(message["eta"]) <= 10


def test_a_long_countdown_hops_and_is_never_held_longer_than_the_visibility_timeout(real_broker):
    webhook_process.apply_async(args=(7,), countdown=600)  # a retry ten minutes on
    (message,) = _queued(real_broker)
    assert message["task"] == "clarm.task_hop"
    assert _seconds_until(message["eta"]) <= HOP_SECONDS

    # The hop runs while the task is still more than a hop away: it sends itself on.
    real_broker.delete("celery")
    due = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=200)).isoformat()
    task_hop.run("integrations.webhook_process", [7], {}, due, {})
    (message,) = _queued(real_broker)
    assert message["task"] == "clarm.task_hop"

    # Within a hop of its time: the real task, with the rest of the wait.
    real_broker.delete("celery")
    due = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=20)).isoformat()
    task_hop.run("integrations.webhook_process", [7], {}, due, {"retries": 2})
    (message,) = _queued(real_broker)
    assert message["task"] == "integrations.webhook_process" and message["argsrepr"] in ("(7,)", "[7]")
    assert 15 < _seconds_until(message["eta"]) <= 20


def test_a_retry_keeps_its_task_id_and_retry_count_through_the_hops(real_broker):
    options: dict[str, Any] = {"task_id": "t-1", "retries": 3}
    webhook_process.apply_async(args=(9,), countdown=900, **options)
    (raw,) = real_broker.lrange("celery", 0, -1)
    body = json.loads(raw)
    hop_args = json.loads(base64.b64decode(body["body"]))[0]
    assert hop_args[0] == "integrations.webhook_process" and hop_args[4] == {"task_id": "t-1", "retries": 3}


def test_long_running_tasks_do_not_ack_late():
    """An export or a retention purge can outlast the visibility timeout: acking late would let a
    live worker's running task be put back and run twice."""
    from identity.privacy.tasks import retention_purge, workspace_export_run

    assert not workspace_export_run.acks_late and not retention_purge.acks_late
    assert webhook_process.acks_late


def test_an_ack_redis_did_not_answer_gives_the_prefetch_slot_back(real_broker, monkeypatch):
    """Redis hung while a worker acknowledged (bench/soak.py): kombu kept the prefetch slot taken for
    good, and a worker with both of its slots taken consumed nothing more, a dead worker's redelivered
    task included. The slot comes back; the message stays unacknowledged in Redis and is restored
    after the visibility timeout."""
    url = real_broker.connection_pool.connection_kwargs
    with Connection(
        f"redis://{url['host']}:{url['port']}/{url['db']}", transport=settings.CELERY_BROKER_TRANSPORT
    ) as connection:
        channel = cast(VirtualChannel, connection.channel())  # the Redis transport's
        queue = Queue("ack-probe", channel=channel)
        queue.declare()
        connection.Producer(channel).publish({"n": 1}, routing_key="ack-probe")
        channel.basic_qos(0, 1, False)  # a worker process's one slot (prefetch multiplier 1)
        message = queue.get(no_ack=False)
        assert message is not None and not channel.qos.can_consume()

        def hung(*args: Any, **kwargs: Any) -> None:
            raise redis.exceptions.TimeoutError("Timeout reading from socket")

        monkeypatch.setattr(channel.qos, "_remove_from_indices", hung)
        with pytest.raises(redis.exceptions.TimeoutError):
            message.ack()  # raised as before: Celery logs "Couldn't ack"
        assert channel.qos.can_consume()
        assert real_broker.hlen("unacked") == 1  # restored after the visibility timeout
