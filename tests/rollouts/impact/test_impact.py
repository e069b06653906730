from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from core.models import AuditEntry
from rollouts.impact.services import (
    FIRST_SEEN,
    IMPROVED,
    TRAFFIC,
    dependent_workflow_add,
    impact_followup,
    impact_followup_start,
    impact_plan_build,
    impact_review,
    impact_waive,
    rollback_gate,
)
from rollouts.judging.observations import observations_ingest
from rollouts.models import DependentWorkflow, ImpactSource, ImpactStatus
from rollouts.runs.services import ENGINE
from tests.rollouts.observation_support import T0, feature_with_releases, go_live, records_over

R2_LIVE = T0 + timedelta(hours=1)


@pytest.fixture
def history(db, responder, team):
    """r1 live at T0, r2 (the release a rollback would undo) live an hour later.

    invoice-parse (acme): on both; 10% errors on r1, 0% on r2 -> improved under r2.
    new-bot (globex): only seen on r2 -> first seen after r2 went live.
    steady (initech): same error rate on both -> traffic only.
    old-only: only on r1 -> not a dependent of r2.
    """
    feature, prod, staging, (r1, r2, r3) = feature_with_releases(actor=responder, team=team)
    go_live(actor=responder, environment=prod, release=r1, at=T0)
    go_live(actor=responder, environment=prod, release=r2, at=R2_LIVE)
    records = []
    records += records_over(
        feature, prod, r1, start=T0, minutes=10, per_minute=5,
        workflow_id="invoice-parse", segment={"tenant": "acme"}, error=lambda i: i % 10 == 0,
    )  # fmt: skip
    records += records_over(
        feature, prod, r2, start=R2_LIVE, minutes=10, per_minute=5,
        workflow_id="invoice-parse", segment={"tenant": "acme"},
    )  # fmt: skip
    records += records_over(
        feature, prod, r2, start=R2_LIVE + timedelta(minutes=2), minutes=2, per_minute=3,
        workflow_id="new-bot", segment={"tenant": "globex", "locale": "de"},
    )  # fmt: skip
    for rel, start in ((r1, T0), (r2, R2_LIVE)):
        records += records_over(
            feature, prod, rel, start=start, minutes=10, per_minute=4,
            workflow_id="steady", segment={"tenant": "initech"}, error=lambda i: i % 20 == 0,
        )  # fmt: skip
    records += records_over(feature, prod, r1, start=T0, minutes=2, per_minute=2, workflow_id="old-only")
    records += records_over(feature, prod, r2, start=R2_LIVE, minutes=2, per_minute=2)  # no workflow id
    observations_ingest(actor=responder, records=records)
    return feature, prod, staging, r1, r2, r3


def _plan(responder, prod, r2, r1):
    return {
        w.workflow_id: w for w in impact_plan_build(actor=responder, environment=prod, from_release=r2, to_release=r1)
    }


def test_plan_detects_each_rule_from_observations(responder, history):
    _, prod, _, r1, r2, _ = history
    plan = _plan(responder, prod, r2, r1)
    assert set(plan) == {"invoice-parse", "new-bot", "steady"}
    assert plan["invoice-parse"].detected_reasons == [TRAFFIC, IMPROVED]
    assert plan["new-bot"].detected_reasons == [TRAFFIC, FIRST_SEEN]
    assert plan["steady"].detected_reasons == [TRAFFIC]
    assert plan["invoice-parse"].customer == "acme"
    assert plan["new-bot"].customer == "globex"
    assert "success 100.0% on #2 vs 90.0% on #1" in plan["invoice-parse"].evidence
    assert plan["invoice-parse"].detection["requests"] == 50
    assert all(w.source == ImpactSource.DETECTED and w.status == ImpactStatus.PENDING for w in plan.values())
    assert AuditEntry.objects.filter(action="dependent_workflow.detect").count() == 3


def test_rebuilding_the_plan_keeps_reviews_and_adds_no_duplicates(responder, history):
    _, prod, _, r1, r2, _ = history
    plan = _plan(responder, prod, r2, r1)
    impact_review(actor=responder, workflow=plan["steady"], status=ImpactStatus.ACCEPTED, note="they do not care")
    again = _plan(responder, prod, r2, r1)
    assert DependentWorkflow.objects.count() == 3
    assert again["steady"].status == ImpactStatus.ACCEPTED


def test_hand_entered_workflows_join_the_plan(responder, history, team):
    _, prod, _, r1, r2, _ = history
    manual = dependent_workflow_add(
        actor=responder,
        environment=prod,
        release=r2,
        workflow_id="weekly-report",
        customer="umbrella",
        behaviour="output_format",
        downstream_system="ERP import",
        contact="ops@umbrella.example",
        migration_path="Pin to #2 until their parser accepts the old format",
    )
    plan = _plan(responder, prod, r2, r1)
    assert plan["weekly-report"].source == ImpactSource.MANUAL
    assert plan["weekly-report"].pk == manual.pk
    with pytest.raises(ValidationError):
        dependent_workflow_add(actor=responder, environment=prod, release=r2, workflow_id="weekly-report")


def test_gate_blocks_until_each_workflow_is_reviewed(responder, history):
    _, prod, _, r1, r2, _ = history
    # Before anyone builds the plan, workflows with traffic still block: a rollback cannot slip through.
    gate = rollback_gate(environment=prod, from_release=r2)
    assert gate.blocked
    assert {w.workflow_id for w in gate.pending} == {"invoice-parse", "new-bot", "steady"}
    assert "not in the plan yet" in gate.reason

    plan = _plan(responder, prod, r2, r1)
    for name, status in (("invoice-parse", "notified"), ("new-bot", "pinned")):
        impact_review(actor=responder, workflow=plan[name], status=status, note="told them")
        gate = rollback_gate(environment=prod, from_release=r2)
        assert gate.blocked
    assert [w.workflow_id for w in gate.pending] == ["steady"]
    impact_review(actor=responder, workflow=plan["steady"], status="accepted")
    gate = rollback_gate(environment=prod, from_release=r2)
    assert not gate.blocked
    assert gate.pending == []
    assert "All 3" in gate.reason


def test_gate_does_not_apply_outside_production(history):
    _, _, staging, _, r2, _ = history
    assert not rollback_gate(environment=staging, from_release=r2).blocked


def test_an_approvers_waiver_unblocks_and_is_audited(responder, approver, history):
    _, prod, _, r1, r2, _ = history
    _plan(responder, prod, r2, r1)
    with pytest.raises(PermissionDenied):
        impact_waive(actor=responder, environment=prod, from_release=r2, reason="outage")
    with pytest.raises(ValidationError):
        impact_waive(actor=approver, environment=prod, from_release=r2, reason="  ")
    assert rollback_gate(environment=prod, from_release=r2).blocked

    waiver = impact_waive(actor=approver, environment=prod, from_release=r2, reason="Sev1: JSON broken for all")
    gate = rollback_gate(environment=prod, from_release=r2)
    assert (gate.blocked, gate.waived) == (False, True)
    assert "Sev1" in gate.reason
    assert len(gate.pending) == 3  # still listed, so people can follow up after the emergency
    entry = AuditEntry.objects.get(action="impact.waive")
    assert (entry.actor, entry.reason, entry.object_id) == (approver, waiver.reason, str(waiver.pk))
    assert sorted(entry.after["pending"]) == ["invoice-parse", "new-bot", "steady"]
    # A waiver is for an emergency, not forever.
    assert rollback_gate(environment=prod, from_release=r2, now=waiver.expires_at + timedelta(seconds=1)).blocked


def test_review_needs_a_known_status_and_the_responder_role(viewer, responder, history):
    _, prod, _, r1, r2, _ = history
    steady = _plan(responder, prod, r2, r1)["steady"]
    with pytest.raises(ValidationError):
        impact_review(actor=responder, workflow=steady, status="ignored")
    with pytest.raises(PermissionDenied):
        impact_review(actor=viewer, workflow=steady, status="accepted")
    reviewed = impact_review(actor=responder, workflow=steady, status="accepted", note="ok with old tone")
    assert (reviewed.reviewed_by, reviewed.review_note) == (responder, "ok with old tone")
    entry = AuditEntry.objects.get(action="dependent_workflow.review")
    assert (entry.before["status"], entry.after["status"]) == ("pending", "accepted")


def test_followup_reports_each_workflows_error_rate_after_the_rollback(responder, history):
    feature, prod, _, r1, r2, _ = history
    _plan(responder, prod, r2, r1)
    rolled_back_at = R2_LIVE + timedelta(minutes=30)
    followup = impact_followup_start(
        actor=ENGINE,
        environment=prod,
        rolled_back_release=r2,
        to_release=r1,
        window_minutes=30,
        started_at=rolled_back_at,
    )
    assert (
        impact_followup_start(
            actor=ENGINE,
            environment=prod,
            rolled_back_release=r2,
            to_release=r1,
            window_minutes=30,
            started_at=rolled_back_at,
        ).pk
        == followup.pk
    )
    # After the rollback invoice-parse is back on r1 and fails 20% of the time; new-bot fails half the time.
    observations_ingest(
        actor=responder,
        records=records_over(
            feature,
            prod,
            r1,
            start=rolled_back_at,
            minutes=5,
            per_minute=4,
            workflow_id="invoice-parse",
            error=lambda i: i % 5 == 0,
        )
        + records_over(
            feature,
            prod,
            r1,
            start=rolled_back_at,
            minutes=2,
            per_minute=2,
            workflow_id="new-bot",
            error=lambda i: i % 2 == 0,
        ),
    )
    report = impact_followup(followup=followup, now=rolled_back_at + timedelta(minutes=10))
    rows = {row.workflow_id: row for row in report.rows}
    assert not report.complete
    assert (rows["invoice-parse"].after_requests, rows["invoice-parse"].after_errors) == (20, 4)
    assert rows["invoice-parse"].after_error_rate == pytest.approx(0.2)
    assert rows["invoice-parse"].before_error_rate == 0.0
    assert rows["invoice-parse"].worse
    assert rows["new-bot"].after_error_rate == pytest.approx(0.5)
    assert rows["steady"].after_requests == 0
    assert rows["steady"].after_error_rate is None
    assert impact_followup(followup=followup, now=rolled_back_at + timedelta(minutes=31)).complete


def test_plan_and_gate_use_a_constant_number_of_queries(responder, history, django_assert_max_num_queries):
    _, prod, _, r1, r2, _ = history
    _plan(responder, prod, r2, r1)
    with django_assert_max_num_queries(3):
        rollback_gate(environment=prod, from_release=r2)
