from __future__ import annotations

import pytest

from rollouts.models import Analysis, RolloutRun, RunState
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

STEPS = [{"type": "weight", "weight": 10}, {"type": "pause"}, {"type": "weight", "weight": 100}]


@pytest.fixture
def paused_run(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    run = runs.run_start(actor=responder, environment=staging, candidate_release=candidate, steps=STEPS)
    runs.run_advance(run_id=run.pk)
    Analysis.objects.create(
        run=run,
        step_index=0,
        look=1,
        window_start=run.created_at,
        window_end=run.created_at,
        verdict="marginal",
        result={
            "verdict": "marginal",
            "reason": "latency_ms worse",
            "metrics": [
                {
                    "name": "latency_ms",
                    "verdict": "marginal",
                    "reason": "median +12 ms",
                    "estimate": 12.0,
                    "ci_low": 2.0,
                    "ci_high": 20.0,
                    "critical": False,
                }
            ],
        },
    )
    run.refresh_from_db()
    return run


def test_the_rollouts_list_shows_runs_in_constant_queries(paused_run, web_as, viewer, django_assert_max_num_queries):
    client = web_as(viewer)
    with django_assert_max_num_queries(6):
        response = client.get("/rollouts/")
    assert response.status_code == 200
    assert f"/rollouts/{paused_run.pk}/" in response.content.decode()


def test_the_run_page_shows_steps_reasons_chart_and_controls(paused_run, web_as, responder):
    page = web_as(responder).get(f"/rollouts/{paused_run.pk}/").content.decode()
    assert "<html" in page and 'id="run-live"' in page and 'hx-trigger="every 2s"' in page
    assert "pause until resumed" in page and "10 % to candidate" in page
    assert "median +12 ms" in page and 'id="analysis-figure"' in page and "plotly/plotly.min.js" in page
    assert "hx-confirm=" in page and f'action="/rollouts/{paused_run.pk}/abort/"' in page


def test_the_htmx_poll_returns_only_the_live_fragment(paused_run, web_as, viewer):
    response = web_as(viewer).get(f"/rollouts/{paused_run.pk}/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.strip().startswith('<div id="run-live"')
    assert "controls" not in body  # viewers see no controls; the fragment never carries them


def test_a_viewer_sees_no_controls_and_cannot_post_them(paused_run, web_as, viewer):
    client = web_as(viewer)
    assert 'id="controls"' not in client.get(f"/rollouts/{paused_run.pk}/").content.decode()
    assert client.post(f"/rollouts/{paused_run.pk}/resume/").status_code == 403
    assert RolloutRun.objects.get(pk=paused_run.pk).state == RunState.PAUSED


def test_anonymous_visitors_are_sent_to_login(paused_run, client):
    assert client.get("/rollouts/").status_code == 302
    assert client.post(f"/rollouts/{paused_run.pk}/resume/").status_code == 302


def test_the_no_js_resume_form_resumes_and_redirects(paused_run, web_as, responder):
    response = web_as(responder).post(f"/rollouts/{paused_run.pk}/resume/", {"reason": "checked dashboards"})
    assert response.status_code == 302 and response["Location"] == f"/rollouts/{paused_run.pk}/"
    run = RolloutRun.objects.get(pk=paused_run.pk)
    assert run.state == RunState.RUNNING and run.step_index == 2
    assert run.transitions.filter(reason="checked dashboards").exists()


def test_htmx_controls_answer_with_a_client_redirect(paused_run, web_as, responder):
    response = web_as(responder).post(f"/rollouts/{paused_run.pk}/abort/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == f"/rollouts/{paused_run.pk}/"
    assert RolloutRun.objects.get(pk=paused_run.pk).state == RunState.ROLLING_BACK


def test_an_unknown_control_is_404(paused_run, web_as, responder):
    assert web_as(responder).post(f"/rollouts/{paused_run.pk}/explode/").status_code == 404


@pytest.fixture
def live_three(team, approver):
    feature, staging, _production = feature_with_envs(team)
    r1 = release(approver, feature, prompt="line one\nold line")
    r2 = release(approver, feature, prompt="line one\nnew line", encoder="e5@3")
    deploy(approver, staging, r1)
    deploy(approver, staging, r2)
    return staging, r1, r2


def test_the_rollback_planner_shows_diff_compatibility_and_impact(live_three, web_as, responder):
    _staging, r1, r2 = live_three
    page = web_as(responder).get("/features/support-assistant/staging/rollback/plan").content.decode()
    assert f"Live now: #{r2.number}" in page and f"Rolling back to <strong>#{r1.number}" in page
    assert 'class="diff-del">-new line' in page and 'class="diff-add">+old line' in page
    assert "compatible" in page and 'id="impact"' in page and "Roll back to #1" in page


def test_the_planner_form_starts_a_rollback_and_bad_input_is_explained(live_three, web_as, responder):
    client = web_as(responder)
    bad = client.post("/features/support-assistant/staging/rollback/", {"to_release": "1", "reason": ""}, follow=True)
    assert "Say why you roll back" in bad.content.decode()
    assert not RolloutRun.objects.exists()
    bad_number = client.post(
        "/features/support-assistant/staging/rollback/", {"to_release": "x", "reason": "r"}, follow=True
    )
    assert "No release #x" in bad_number.content.decode() and not RolloutRun.objects.exists()
    ok = client.post("/features/support-assistant/staging/rollback/", {"to_release": "1", "reason": "errors"})
    run = RolloutRun.objects.get()
    assert ok.status_code == 302 and ok["Location"] == f"/rollouts/{run.pk}/"


def test_a_viewer_cannot_roll_back_from_the_planner(live_three, web_as, viewer):
    client = web_as(viewer)
    assert (
        "This needs the responder role (rollback.staging)."
        in client.get("/features/support-assistant/staging/rollback/plan").content.decode()
    )
    response = client.post("/features/support-assistant/staging/rollback/", {"to_release": "1", "reason": "r"})
    assert response.status_code == 403 and not RolloutRun.objects.exists()


def test_a_responder_cannot_roll_back_production_from_the_planner(team, approver, responder, web_as):
    feature, _, production = feature_with_envs(team)
    deploy(approver, production, release(approver, feature, prompt="v1"))
    deploy(approver, production, release(approver, feature, prompt="v2"))
    client = web_as(responder)
    page = client.get("/features/support-assistant/production/rollback/plan").content.decode()
    assert "This needs the approver role (rollback.production)." in page
    response = client.post("/features/support-assistant/production/rollback/", {"to_release": "1", "reason": "r"})
    assert response.status_code == 403 and not RolloutRun.objects.exists()
