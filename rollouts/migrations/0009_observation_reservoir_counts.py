"""Each minute's reservoir keeps its own count of the requests offered to it, so a batch places its requests in
the minute by one locked row. Existing minutes start from their rollups' counts, which is what the reservoirs were
filled against until now."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum


def room_for_in_place_updates(apps, schema_editor):
    # Every batch of the minute updates its row, as it does the rollups' (0007).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE rollouts_observationreservoir SET (fillfactor = 70)")


def counts_from_rollups(apps, schema_editor):
    rollup = apps.get_model("rollouts", "ObservationRollup")
    reservoir = apps.get_model("rollouts", "ObservationReservoir")
    minutes = (
        rollup.objects.values("environment_id", "release_id", "minute").annotate(n=Sum("count")).order_by()
    ).iterator(chunk_size=5000)
    batch = []
    for row in minutes:
        batch.append(
            reservoir(
                environment_id=row["environment_id"], release_id=row["release_id"], minute=row["minute"], seen=row["n"]
            )
        )
        if len(batch) == 5000:
            reservoir.objects.bulk_create(batch)
            batch = []
    reservoir.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0008_observation_edge_rows_by_brin"),
    ]

    operations = [
        migrations.CreateModel(
            name="ObservationReservoir",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("minute", models.DateTimeField()),
                ("seen", models.PositiveIntegerField(default=0)),
                (
                    "environment",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="rollouts.environment",
                    ),
                ),
                (
                    "release",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="rollouts.release",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("environment", "release", "minute"), name="uniq_observation_reservoir"
                    )
                ],
            },
        ),
        migrations.RunPython(room_for_in_place_updates, migrations.RunPython.noop),
        migrations.RunPython(counts_from_rollups, migrations.RunPython.noop),
    ]
