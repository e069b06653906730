"""Raw observation rows keep only what a query uses: no database foreign keys (ingest resolves environments and
releases before writing; Django cascades deletes itself), no single-column indexes on them, and the index on
time becomes BRIN on PostgreSQL (rows arrive in time order). Elsewhere the B-tree on time stays. On PostgreSQL
the rollup and reservoir tables leave room on each page for in-place updates."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "rollouts_observation"


def time_index_to_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS obs_time_idx")
        schema_editor.execute(f"CREATE INDEX obs_time_brin ON {TABLE} USING brin (time)")
    else:  # SQLite rebuilt the table for the fields above from the model's state, which has no index on time
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS obs_time_idx ON {TABLE} (time)")


# Rollup and reservoir rows are updated in place by every batch of their minute; free space on each page lets
# PostgreSQL make those heap-only updates, which touch no index.
UPDATED_IN_PLACE = ("rollouts_observationrollup", "rollouts_workflowrollup", "rollouts_observationsample")


def fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for table in UPDATED_IN_PLACE:
                schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {value})")

    return apply


def time_index_to_btree(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS obs_time_brin")
        schema_editor.execute(f"CREATE INDEX obs_time_idx ON {TABLE} (time)")


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0006_merge_20261201_2330"),
    ]

    operations = [
        migrations.AlterField(
            model_name="observation",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="observations",
                to="rollouts.environment",
            ),
        ),
        migrations.AlterField(
            model_name="observation",
            name="release",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="observations",
                to="rollouts.release",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="observation", name="obs_time_idx")],
            database_operations=[migrations.RunPython(time_index_to_brin, time_index_to_btree)],
        ),
        migrations.RunPython(fillfactor(70), fillfactor(100)),
    ]
