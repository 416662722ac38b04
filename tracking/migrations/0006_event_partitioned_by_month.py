"""Stored events partitioned by month on PostgreSQL (tracking.partitions; docs/ingest.md "Storage").

The table is rebuilt: a new table partitioned by RANGE (occurred_at) with a DEFAULT partition and
one partition per month of the existing events still inside some workspace's window, plus the
current month and CLARM_EVENT_MONTHS_AHEAD after it; the rows are copied, the old table dropped, and
its indexes and foreign keys made again on the new one (from the catalog, so none is forgotten).
The primary key becomes (id, occurred_at), as PostgreSQL requires the partition key in every unique
index; `id` keeps its sequence and stays Django's primary key. The unique message id per workspace
(safety net of the stitcher's insert: dedupe itself is tracking.DedupeKey's, exact across months)
takes occurred_at too, on both databases, so the stitcher's ON CONFLICT is the same on both.

The copy holds the table for its duration: on a large table run it in a maintenance window.
SQLite keeps a plain table (only the constraint changes).
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations, models

from tracking.partitions import TABLE, event_months_create, month_add, month_start
from workspaces.retention import months_before

OLD = f"{TABLE}_rebuilt"


def _definitions(cursor) -> tuple[list[str], list[tuple[str, str]]]:
    """The table's secondary indexes (as CREATE statements) and foreign keys (name, definition)."""
    cursor.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
        [TABLE],
    )
    # A partitioned table's own index reads "ON ONLY t": made again on the whole new table.
    indexes = [row[0].replace(" ON ONLY ", " ON ") for row in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )
    return indexes, list(cursor.fetchall())


def _months_kept(cursor, apps) -> list[datetime]:
    """The months of the stored events that end inside some workspace's window, and the months ahead."""
    longest = apps.get_model("workspaces", "Workspace").objects.aggregate(longest=models.Max("retention_months"))[
        "longest"
    ]
    now = datetime.now(UTC)
    starts = [month_add(month_start(now), n) for n in range(settings.CLARM_EVENT_MONTHS_AHEAD + 1)]
    if longest is not None:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') FROM \"{OLD}\" WHERE occurred_at >= %s",  # noqa: S608
            [month_start(months_before(now, longest))],
        )
        starts += [row[0] for row in cursor.fetchall()]
    return starts


def _rebuild(apps, schema_editor, *, partition: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        indexes, foreign_keys = _definitions(cursor)
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        old_sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {old_sequence}")  # noqa: S608 (from the catalog)
        last_value, is_called = cursor.fetchone()
        cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{OLD}"')
        cursor.execute(f'ALTER TABLE "{OLD}" RENAME CONSTRAINT "{TABLE}_pkey" TO "{OLD}_pkey"')
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            [OLD],
        )
        for (name,) in cursor.fetchall():  # their names are free for the new table's
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            f'CREATE TABLE "{TABLE}" (LIKE "{OLD}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY '
            "INCLUDING STORAGE INCLUDING COMPRESSION)" + (" PARTITION BY RANGE (occurred_at)" if partition else "")
        )
        key = "id, occurred_at" if partition else "id"
        cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY ({key})')
        if partition:
            cursor.execute(f'CREATE TABLE "{TABLE}_default" PARTITION OF "{TABLE}" DEFAULT')
            event_months_create(_months_kept(cursor, apps))
        cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{OLD}" ORDER BY id')  # noqa: S608 (our names)
        cursor.execute(f'DROP TABLE "{OLD}"')
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        new_sequence = cursor.fetchone()[0]
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {old_sequence.split('.')[-1]}")
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [TABLE, last_value, is_called])
        for statement in indexes:
            cursor.execute(statement)
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f'ANALYZE "{TABLE}"')  # autovacuum may be off: plans need statistics now


def event_table_partition(apps, schema_editor) -> None:
    _rebuild(apps, schema_editor, partition=True)


def event_table_unpartition(apps, schema_editor) -> None:
    _rebuild(apps, schema_editor, partition=False)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_pipeline_pending_and_dedupe"),
        ("workspaces", "0002_invitation_pending_unique"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="event", name="event_message_id_unique"),
        migrations.RunPython(event_table_partition, event_table_unpartition),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                condition=models.Q(("message_id__isnull", False)),
                fields=("workspace", "message_id", "occurred_at"),
                name="event_message_id_unique",
            ),
        ),
    ]
