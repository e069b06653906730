"""Manager dashboard (issue 3, item 9): indexes for its scans, and on PostgreSQL a completion rollup.

Plain SQL on purpose: the indexes are partial/covering ones for the dashboard's own queries, and the rollup is
a table kept by a trigger, neither of which the models describe (so the autodetector leaves them alone).

The rollup: per incident and due month, how many action items were completed on time (done on or before the
due date) and how many late. Done items are ~90% of all items and their on-time state only changes when the
item changes, so the trigger keeps the counts and the dashboard reads tens of thousands of rollup rows instead
of scanning every action item. Items still open are read live (a small partial index).
"""

from django.db import migrations

INDEXES = [
    (
        "CREATE INDEX IF NOT EXISTS action_open_owner_layer_idx ON incidents_actionitem "
        "(owner_id, layer, due_date, created_at) WHERE status IN ('open', 'in_progress')",
        "DROP INDEX IF EXISTS action_open_owner_layer_idx",
    ),
    (
        "CREATE INDEX IF NOT EXISTS diagnosis_root_cause_idx ON diagnostics_layerdiagnosis "
        "(incident_id, layer) WHERE status = 'root_cause'",
        "DROP INDEX IF EXISTS diagnosis_root_cause_idx",
    ),
    (
        "CREATE INDEX IF NOT EXISTS diagnosis_unowned_idx ON diagnostics_layerdiagnosis (incident_id) "
        "WHERE owner_id IS NULL",
        "DROP INDEX IF EXISTS diagnosis_unowned_idx",
    ),
]

ROLLUP = """
CREATE TABLE IF NOT EXISTS incidents_dashboard_completion (
    incident_id bigint NOT NULL,
    due_month date NOT NULL,
    on_time integer NOT NULL DEFAULT 0,
    late integer NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, due_month)
);

CREATE OR REPLACE FUNCTION incidents_dashboard_completion_sync() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'done' THEN
        UPDATE incidents_dashboard_completion
           SET on_time = on_time - (OLD.completed_at IS NOT NULL
                                    AND (OLD.completed_at AT TIME ZONE 'UTC')::date <= OLD.due_date)::int,
               late = late - (NOT (OLD.completed_at IS NOT NULL
                                   AND (OLD.completed_at AT TIME ZONE 'UTC')::date <= OLD.due_date))::int
         WHERE incident_id = OLD.incident_id AND due_month = date_trunc('month', OLD.due_date)::date;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'done' THEN
        INSERT INTO incidents_dashboard_completion AS r (incident_id, due_month, on_time, late)
        VALUES (
            NEW.incident_id,
            date_trunc('month', NEW.due_date)::date,
            (NEW.completed_at IS NOT NULL AND (NEW.completed_at AT TIME ZONE 'UTC')::date <= NEW.due_date)::int,
            (NOT (NEW.completed_at IS NOT NULL AND (NEW.completed_at AT TIME ZONE 'UTC')::date <= NEW.due_date))::int
        )
        ON CONFLICT (incident_id, due_month)
        DO UPDATE SET on_time = r.on_time + EXCLUDED.on_time, late = r.late + EXCLUDED.late;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS incidents_dashboard_completion_trg ON incidents_actionitem;
CREATE TRIGGER incidents_dashboard_completion_trg
AFTER INSERT OR UPDATE OF status, completed_at, due_date, incident_id OR DELETE ON incidents_actionitem
FOR EACH ROW EXECUTE FUNCTION incidents_dashboard_completion_sync();

-- TRUNCATE skips row triggers (Django's flush between transactional tests uses it): empty the rollup too.
CREATE OR REPLACE FUNCTION incidents_dashboard_completion_clear() RETURNS trigger AS $$
BEGIN
    TRUNCATE incidents_dashboard_completion;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS incidents_dashboard_completion_truncate_trg ON incidents_actionitem;
CREATE TRIGGER incidents_dashboard_completion_truncate_trg
AFTER TRUNCATE ON incidents_actionitem
FOR EACH STATEMENT EXECUTE FUNCTION incidents_dashboard_completion_clear();
"""

# Also used by bench/dashboard.py after bulk loading with the trigger disabled.
REBUILD = """
TRUNCATE incidents_dashboard_completion;
INSERT INTO incidents_dashboard_completion (incident_id, due_month, on_time, late)
SELECT incident_id, date_trunc('month', due_date)::date,
       count(*) FILTER (WHERE completed_at IS NOT NULL AND (completed_at AT TIME ZONE 'UTC')::date <= due_date),
       count(*) FILTER (WHERE NOT (completed_at IS NOT NULL AND (completed_at AT TIME ZONE 'UTC')::date <= due_date))
  FROM incidents_actionitem WHERE status = 'done' GROUP BY 1, 2;
"""

DROP_ROLLUP = """
DROP TRIGGER IF EXISTS incidents_dashboard_completion_truncate_trg ON incidents_actionitem;
DROP TRIGGER IF EXISTS incidents_dashboard_completion_trg ON incidents_actionitem;
DROP FUNCTION IF EXISTS incidents_dashboard_completion_clear();
DROP FUNCTION IF EXISTS incidents_dashboard_completion_sync();
DROP TABLE IF EXISTS incidents_dashboard_completion;
"""


def create(apps, schema_editor):
    for sql, _ in INDEXES:
        schema_editor.execute(sql)
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: psycopg then accepts several statements (and the function body's semicolons) at once.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(ROLLUP)
            cursor.execute(REBUILD)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP_ROLLUP)
    for _, sql in INDEXES:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0003_incident_list_indexes"),
        ("diagnostics", "0002_layer_diagnosis"),
    ]

    operations = [migrations.RunPython(create, drop)]
