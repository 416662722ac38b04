"""kombu's Redis transport, with acknowledgements that survive a Redis hiccup.

kombu (5.7) gives a worker's prefetch slot back only once Redis confirmed the ack: when Redis does
not answer in time (a hang of a few seconds, a failover), the ack raises, kombu logs "Couldn't ack"
and the slot stays taken for the life of the process. A worker with every slot taken (concurrency 2,
prefetch multiplier 1: two failed acks) consumes nothing more until it is restarted, and no other
task reaches it, a killed worker's redelivered task included (found by bench/soak.py: Redis hung
for 5 s while the stitcher's processors kept the workers busy).

Here the slot is given back whatever Redis answered, and the error still raised (so it is logged as
before). The message of a failed ack stays in Redis's unacked set and is restored after the
visibility timeout: the task runs once more, which every task allows (they are idempotent).

Used through `CELERY_BROKER_TRANSPORT` (settings) with a `redis://` broker URL."""

from typing import Any

from kombu.transport import redis, virtual


class QoS(redis.QoS):
    def ack(self, delivery_tag: Any) -> None:
        try:
            self._remove_from_indices(delivery_tag).execute()  # type: ignore[attr-defined]  # not in the stubs
        finally:
            virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            if requeue:
                self.restore_by_tag(delivery_tag, leftmost=True)
            else:
                self._remove_from_indices(delivery_tag).execute()  # type: ignore[attr-defined]  # not in the stubs
        finally:
            virtual.QoS.ack(self, delivery_tag)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
