"""Stitch partitions: a workspace's events are stitched by one stitcher at a time, which holds its
partition's PostgreSQL advisory lock for the batch's transaction. Manual merge, split, undo and
erasure take the same lock (`partition_lock`), so none of them interleaves with a batch of the
workspace. On SQLite (one writer at a time anyway) there is nothing to take."""

from django.db import connection

from tracking.append import partition_of

# The namespace of the partitions' advisory locks (the second key is the partition).
LOCK_CLASS = 0x5717


def partition_wait(partition: int) -> None:
    """Inside a transaction: wait until the partition is this transaction's."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, partition])


def partition_try(partition: int) -> bool:
    """Inside a transaction: take the partition if no one holds it; whether it was taken."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_CLASS, partition])
        return bool(cursor.fetchone()[0])


def partition_lock(workspace_id: int) -> None:
    """Inside a transaction: no stitcher batch of this workspace runs until it commits."""
    partition_wait(partition_of(workspace_id))
