from __future__ import annotations

import pytest

from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


@pytest.fixture
def env(team, approver):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    return staging, stable, candidate


def test_routing_shows_the_live_release_at_full_weight_with_its_manifest(env, api_as, viewer):
    _staging, stable, _ = env
    response = api_as(viewer).get("/api/v1/routing/support-assistant/staging")
    assert response.status_code == 200
    body = response.json()
    assert [(r["release"], r["weight"], r["role"]) for r in body["releases"]] == [(stable.number, 100, "stable")]
    assert body["releases"][0]["manifest"]["manifest_hash"] == stable.manifest_hash
    assert response["ETag"].startswith('"')


def test_routing_follows_the_run_in_flight_and_answers_304_when_unchanged(
    env, api_as, viewer, responder, django_capture_on_commit_callbacks
):
    staging, _stable, candidate = env
    client = api_as(viewer)
    etag = client.get("/api/v1/routing/support-assistant/staging")["ETag"]
    not_modified = client.get("/api/v1/routing/support-assistant/staging", HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b""
    # Commit hooks run as if committed: the Redis mirror of the table is refreshed after commit.
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(
            actor=responder,
            environment=staging,
            candidate_release=candidate,
            steps=[{"type": "weight", "weight": 5}, {"type": "weight", "weight": 100}],
        )
        runs.run_advance(run_id=run.pk)  # what the worker does; the weight step applies 5 % then 100 %
    run.refresh_from_db()
    assert run.state == "succeeded"
    changed = client.get("/api/v1/routing/support-assistant/staging", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert [(r["release"], r["weight"]) for r in changed.json()["releases"]] == [(candidate.number, 100)]


def test_routing_during_a_canary_splits_the_weights(env, api_as, viewer, responder):
    staging, stable, candidate = env
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": 5}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    body = api_as(viewer).get("/api/v1/routing/support-assistant/staging").json()
    assert [(r["release"], r["weight"], r["role"]) for r in body["releases"]] == [
        (stable.number, 95, "stable"),
        (candidate.number, 5, "candidate"),
    ]
    assert body["run_state"] == "paused"


def test_routing_reads_are_one_or_two_queries(env, api_as, viewer, django_assert_max_num_queries):
    client = api_as(viewer)
    client.get("/api/v1/routing/support-assistant/staging")
    with django_assert_max_num_queries(2):  # token + table
        assert client.get("/api/v1/routing/support-assistant/staging").status_code == 200


@pytest.mark.parametrize(("who", "expected"), [(None, 401), ("viewer", 200), ("responder", 200), ("admin_user", 200)])
def test_routing_needs_a_signed_in_viewer(env, api_as, request, who, expected):
    user = request.getfixturevalue(who) if who else None
    assert api_as(user).get("/api/v1/routing/support-assistant/staging").status_code == expected


def test_routing_of_an_unknown_environment_is_404_and_writes_is_405(env, api_as, viewer):
    assert api_as(viewer).get("/api/v1/routing/support-assistant/nope").status_code == 404
    assert api_as(viewer).post("/api/v1/routing/support-assistant/staging", {}).status_code == 405
