"""Drop three single-column indexes that composite indexes already cover: customer (workspace),
identifier (workspace) and identifier (customer). Only the indexes go: dropped by name (the same on
PostgreSQL and SQLite), so neither table is rebuilt and no foreign key is checked again; the
models say db_index=False."""

import django.db.models.deletion
from django.db import migrations, models

# (index, table, column): dropped going forward, created again going back.
INDEXES = (
    ("identity_customer_workspace_id_77333f08", "identity_customer", "workspace_id"),
    ("identity_identifier_customer_id_b102a60b", "identity_identifier", "customer_id"),
    ("identity_identifier_workspace_id_2ffd34eb", "identity_identifier", "workspace_id"),
)


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0009_rollups_summary_dimensions"),
        ("workspaces", "0003_workspace_is_demo"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"', reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")'
                )
                for name, table, column in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="workspace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="customers",
                        to="workspaces.workspace",
                    ),
                ),
                migrations.AlterField(
                    model_name="identifier",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifiers",
                        to="identity.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="identifier",
                    name="workspace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="workspaces.workspace",
                    ),
                ),
            ],
        )
    ]
