"""Raw observation rows lose their (environment, release, time) B-tree: the judge's edge rows (a part of a minute
at each end of a window) are found through the index on time, and the environment and release are checked on
the few pages that cover those seconds. On PostgreSQL the BRIN index on time gets ranges of 16 pages (about a
minute of a busy feature's rows cover a hundred or so), so an edge reads little more than its own minute, and
ranges are summarised as they fill, so recent rows are found the same way."""

from django.db import migrations

TABLE = "rollouts_observation"


def fine_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS obs_time_brin")
        schema_editor.execute(
            f"CREATE INDEX obs_time_brin ON {TABLE} USING brin (time) WITH (pages_per_range = 16, autosummarize = on)"
        )


def coarse_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS obs_time_brin")
        schema_editor.execute(f"CREATE INDEX obs_time_brin ON {TABLE} USING brin (time)")


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0007_observation_raw_rows_lean"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="observation", name="obs_env_release_time_idx"),
        migrations.RunPython(fine_brin, coarse_brin),
    ]
