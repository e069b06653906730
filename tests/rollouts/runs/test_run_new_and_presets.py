"""/rollouts/new/ starts a rollout from a form with the compatibility check shown first; rollbacks pick a preset
(fast staged by default); a refused request keeps what was typed."""

from __future__ import annotations

import pytest

from rollouts.models import RolloutRun
from rollouts.runs.presets import ROLLBACK_PRESETS, describe, parse_steps
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _mismatched(approver, feature, *, world_release):
    """A release whose queries use another encoder than its index (registered with an approver's override)."""
    from rollouts.registry import services

    rel, _ = services.release_create(
        actor=approver,
        feature=feature,
        model=world_release.model,
        prompt=world_release.prompt,
        index=world_release.index,
        query_encoder="bge-m3@1",
        override_reason="testing the check",
    )
    return rel


@pytest.fixture
def world(team, approver):
    feature, staging, production = feature_with_envs(team)
    r1 = release(approver, feature, prompt="v1")
    r2 = release(approver, feature, prompt="v2")
    broken = _mismatched(approver, feature, world_release=r2)
    deploy(approver, staging, r1)
    deploy(approver, production, r1)
    deploy(approver, production, r2)
    return {"staging": staging, "production": production, "r1": r1, "r2": r2, "broken": broken}


def _body(world, **extra):
    return {
        "environment": world["staging"].pk,
        "candidate_release": world["r2"].pk,
        "preset": "quick",
        "reason": "prompt v2",
        "idempotency_key": "k-1",
        **extra,
    }


def test_the_check_shows_live_release_compatibility_and_steps_before_submitting(world, web_as, responder):
    client = web_as(responder)
    html = client.get("/rollouts/new/check/", _body(world), **HX).content.decode()
    assert "<html" not in html and 'id="compat-ok"' in html
    assert "support-assistant #1" in html and "10 % → judged → 50 % → judged → 100 %" in html
    html = client.get("/rollouts/new/check/", _body(world, candidate_release=world["broken"].pk), **HX).content.decode()
    assert 'id="compat-violations"' in html


def test_starting_a_rollout_from_the_form(world, web_as, responder):
    response = web_as(responder).post("/rollouts/new/", _body(world, analysis_seconds="30", max_looks="4"))
    run = RolloutRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/rollouts/{run.pk}/"
    assert run.candidate_release == world["r2"] and run.environment == world["staging"]
    assert [s.get("weight") for s in run.steps if s["type"] == "weight"] == [10, 50, 100]
    assert run.config == {"analysis_seconds": 30.0, "max_looks": 4}
    again = web_as(responder).post("/rollouts/new/", _body(world))  # a double click: same key, same run
    assert again.status_code == 302 and RolloutRun.objects.count() == 1


def test_a_refused_start_keeps_what_was_typed(world, web_as, responder):
    body = _body(world, preset="custom", custom_steps="weight 10\nanalysis\nweight 60", reason="typed reason")
    response = web_as(responder).post("/rollouts/new/", body)
    html = response.content.decode()
    assert response.status_code == 400 and not RolloutRun.objects.exists()
    assert "The last weight step must send 100 % to the candidate." in html
    assert "weight 10\nanalysis\nweight 60</textarea>" in html and 'value="typed reason"' in html
    broken = web_as(responder).post("/rollouts/new/", _body(world, candidate_release=world["broken"].pk))
    assert broken.status_code == 400 and "compare vectors from different spaces" in broken.content.decode()


def test_a_viewer_sees_the_form_disabled_with_the_reason_and_cannot_post(world, web_as, viewer):
    page = web_as(viewer).get("/rollouts/new/").content.decode()
    assert 'disabled title="This needs the responder role (rollout.start)."' in page
    listing = web_as(viewer).get("/rollouts/").content.decode()
    assert 'title="This needs the responder role (rollout.start)."' in listing
    assert web_as(viewer).post("/rollouts/new/", _body(world)).status_code == 403
    assert not RolloutRun.objects.exists()


def test_a_rollback_defaults_to_the_fast_preset_without_analysis(world, web_as, approver):
    client = web_as(approver)
    page = client.get("/features/support-assistant/production/rollback/plan").content.decode()
    assert 'value="fast" checked' in page and "Immediate" in page and "Full staged" in page
    response = client.post(
        "/features/support-assistant/production/rollback/",
        {"to_release": "1", "reason": "v2 refuses German", "preset": "fast"},
    )
    run = RolloutRun.objects.get()
    assert response.status_code == 302 and run.mode == "staged"
    assert run.steps == ROLLBACK_PRESETS["fast"].step_list()
    assert not any(s["type"] in ("analysis", "bake") for s in run.steps)


def test_a_refused_rollback_keeps_the_reason_typed(world, web_as, approver):
    response = web_as(approver).post(
        "/features/support-assistant/production/rollback/",
        {"to_release": "7", "reason": "the reason I typed", "preset": "immediate"},
    )
    html = response.content.decode()
    assert response.status_code == 400 and "Rollback refused: No release #7." in html
    assert ">the reason I typed</textarea>" in html and 'value="immediate" checked' in html
    assert not RolloutRun.objects.exists()


def test_steps_are_written_as_lines():
    steps = parse_steps("weight 10%\nanalysis\npause 120\nweight 100\nbake")
    assert steps == [
        {"type": "weight", "weight": 10},
        {"type": "analysis"},
        {"type": "pause", "seconds": 120.0},
        {"type": "weight", "weight": 100},
        {"type": "bake"},
    ]
    assert describe(steps) == "10 % → judged → pause 120.0 s → 100 % → bake"
