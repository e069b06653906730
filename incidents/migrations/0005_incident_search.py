from django.db import migrations, models
import django.db.models.functions.text


def trigram_index(apps, schema_editor):
    # Trigram GIN over the same expression free-text search filters on (icontains compiles to
    # UPPER(col::text) LIKE UPPER(pattern) on PostgreSQL), so a substring search is an index lookup, not a scan.
    # Other databases keep the plain scan: the embedded default holds demo-sized data.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS incident_search_trgm_idx ON incidents_incident "
        "USING gin ((UPPER(search_text::text)) gin_trgm_ops)"
    )
    # The planner needs the expression's statistics to tell a common term (walk the newest-first index)
    # from a rare one (use the trigram index); without them it guesses ten rows for every term.
    schema_editor.execute("ANALYZE incidents_incident")


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS incident_search_trgm_idx")


class Migration(migrations.Migration):

    dependencies = [
        ('incidents', '0004_dashboard_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='incident',
            name='search_text',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.text.Concat('title', models.Value(' '), 'summary', output_field=models.TextField()), output_field=models.TextField()),
        ),
        migrations.RunPython(trigram_index, drop_trigram_index, elidable=False),
    ]
