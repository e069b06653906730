"""The per-minute tables and the raw rows keep only what a query uses, as the raw rows' references already do
(0007): the rollup and reservoir tables lose their database foreign keys (ingest resolves every environment and
release before it writes; Django cascades deletes itself) and their single-column indexes on them (their unique
index leads with the environment; releases are never deleted). On PostgreSQL the raw rows also lose their
primary-key index: they are read by time, de-duplicated by request id and pruned by time, never one by one by id,
and the id column keeps its identity sequence. A logical-replication publication of the table needs
``REPLICA IDENTITY FULL`` for the prune's deletes."""

import django.db.models.deletion
from django.db import migrations, models

RAW = "rollouts_observation"


def raw_rows_without_key_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {RAW} DROP CONSTRAINT IF EXISTS {RAW}_pkey")


def raw_rows_with_key_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {RAW} ADD CONSTRAINT {RAW}_pkey PRIMARY KEY (id)")


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0009_observation_reservoir_counts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="observationrollup",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="observation_rollups",
                to="rollouts.environment",
            ),
        ),
        migrations.AlterField(
            model_name="observationrollup",
            name="release",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="observation_rollups",
                to="rollouts.release",
            ),
        ),
        migrations.AlterField(
            model_name="observationsample",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="rollouts.environment",
            ),
        ),
        migrations.AlterField(
            model_name="observationsample",
            name="release",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="rollouts.release",
            ),
        ),
        migrations.AlterField(
            model_name="workflowrollup",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="workflow_rollups",
                to="rollouts.environment",
            ),
        ),
        migrations.AlterField(
            model_name="workflowrollup",
            name="release",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="workflow_rollups",
                to="rollouts.release",
            ),
        ),
        migrations.RunPython(raw_rows_without_key_index, raw_rows_with_key_index),
    ]
