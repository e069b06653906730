"""A rollout can require a passing behaviour-diff report as its gate."""

from __future__ import annotations

import io

import pytest

from diagnostics.models import LinkPurpose, ReportLink, ReportStatus
from diagnostics.reports import services as reports
from diagnostics.reports.runner import RUNNER, summarise
from rollouts.models import RolloutRun
from tests.diagnostics.reports.conftest import cases, contract_result, jsonl, outputs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

STEPS = [{"type": "weight", "weight": 10}, {"type": "weight", "weight": 100}]


@pytest.fixture
def env(team, approver):
    feature, staging, _production = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    return staging, stable, candidate


def finished_report(actor, release_a, release_b, *, verdict: str):
    version = reports.prompt_set_import(
        actor=actor, name="gate-set", file=io.BytesIO(jsonl(cases())), filename="cases.jsonl"
    )
    report = reports.report_request(
        actor=actor,
        prompt_set_version=version,
        release_a=release_a,
        release_b=release_b,
        outputs_a=reports.OutputFile(io.BytesIO(jsonl(outputs())), "a.jsonl"),
        outputs_b=reports.OutputFile(io.BytesIO(jsonl(outputs())), "b.jsonl"),
    )
    reports.report_transition(actor=RUNNER, report=report, old=ReportStatus.QUEUED, new=ReportStatus.RUNNING)
    result = contract_result(verdict=verdict)
    reports.report_transition(
        actor=RUNNER,
        report=report,
        old=ReportStatus.RUNNING,
        new=ReportStatus.SUCCEEDED,
        result=result,
        summary=summarise(result),
        verdict=verdict,
        progress=1.0,
    )
    return report


def start(client, staging, candidate, **extra):
    body = {"environment": staging.pk, "candidate_release": candidate.pk, "steps": STEPS, **extra}
    return client.post("/api/v1/runs/", body, format="json")


def test_a_passing_report_lets_the_run_start_and_is_linked_to_it(env, api_as, responder):
    staging, stable, candidate = env
    report = finished_report(responder, stable, candidate, verdict="no_significant_change")
    response = start(api_as(responder), staging, candidate, gate_report=report.pk)
    assert response.status_code == 201, response.json()
    link = ReportLink.objects.get(report=report, purpose=LinkPurpose.GATE)
    assert (link.object_type, link.object_id) == ("rollouts.rolloutrun", str(response.json()["id"]))


def test_a_report_that_found_a_regression_blocks_the_run(env, api_as, responder):
    staging, stable, candidate = env
    report = finished_report(responder, stable, candidate, verdict="regression")
    response = start(api_as(responder), staging, candidate, gate_report=report.pk)
    assert response.status_code == 400
    assert "does not pass the gate" in response.json()["gate_report"][0]
    assert not RolloutRun.objects.exists()
    assert not ReportLink.objects.filter(purpose=LinkPurpose.GATE).exists()


def test_a_report_about_other_releases_or_a_missing_one_is_refused(env, api_as, responder):
    staging, stable, candidate = env
    backwards = finished_report(responder, candidate, stable, verdict="no_significant_change")
    response = start(api_as(responder), staging, candidate, gate_report=backwards.pk)
    assert response.status_code == 400
    assert "needs the candidate release" in response.json()["gate_report"][0]
    missing = start(api_as(responder), staging, candidate, gate_report=backwards.pk + 1000)
    assert missing.status_code == 400
    assert "No behaviour-diff report" in missing.json()["gate_report"][0]
    assert not RolloutRun.objects.exists()
