from django.db import migrations

from core.immutable import append_only_triggers

# Every table of an ImmutableModel (core/immutable.py).
APPEND_ONLY_TABLES = (
    "core_auditentry",
    "rollouts_modelversion",
    "rollouts_promptversion",
    "rollouts_adapterversion",
    "rollouts_indexversion",
    "rollouts_release",
    "rollouts_releaseadapter",
    "rollouts_deploymentevent",
    "rollouts_impactwaiver",
    "incidents_changeevent",
    "incidents_postmortemrevision",
    "diagnostics_evidence",
    "diagnostics_ownerassignment",
    "diagnostics_promptsetversion",
    "diagnostics_promptcase",
)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_worker_heartbeat"),
        ("rollouts", "0004_merge_runs_observations"),
        ("incidents", "0004_dashboard_indexes"),
        ("diagnostics", "0003_behaviour_reports"),
    ]

    operations = [append_only_triggers(*APPEND_ONLY_TABLES)]
