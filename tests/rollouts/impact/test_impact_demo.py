from __future__ import annotations

from django.core.management import call_command

from rollouts.impact.services import rollback_gate
from rollouts.models import DependentWorkflow, Environment, Observation


def test_demo_has_an_impact_plan_and_loading_twice_changes_nothing(db, client):
    call_command("demo_data", stdout=None)
    counts = (Observation.objects.count(), DependentWorkflow.objects.count())
    call_command("demo_data", stdout=None)
    assert (Observation.objects.count(), DependentWorkflow.objects.count()) == counts
    plan = {w.workflow_id: w for w in DependentWorkflow.objects.all()}
    assert set(plan) == {"ap-three-way-match", "vendor-sync", "expense-bot", "month-end-close"}
    assert "success_improved" in plan["ap-three-way-match"].detected_reasons
    assert "first_seen_after_live" in plan["expense-bot"].detected_reasons
    prod = Environment.objects.get(feature__slug="invoice-extractor", name="production")
    assert rollback_gate(environment=prod, from_release=plan["vendor-sync"].release).blocked
    client.login(username="vik", password="demo-rewind")
    assert "ap-three-way-match" in client.get("/features/invoice-extractor/production/impact/").content.decode()
