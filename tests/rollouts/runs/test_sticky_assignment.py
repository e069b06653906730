"""Sticky assignment: the server's published rule and the gateway client pick the same arm for every key."""

from __future__ import annotations

import pytest

import rewind_client
from rollouts.runs import assignment
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db


@pytest.fixture
def canary(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)

    def at(weight: int):
        run = runs.run_start(
            actor=responder,
            environment=staging,
            candidate_release=candidate,
            steps=[{"type": "weight", "weight": weight}, {"type": "pause"}, {"type": "weight", "weight": 100}],
        )
        runs.run_advance(run_id=run.pk)
        return run

    return staging, stable, candidate, at


def table(api_as, user) -> dict:
    response = api_as(user).get("/api/v1/routing/support-assistant/staging")
    assert response.status_code == 200
    return response.json()


def test_the_routing_table_publishes_the_assignment_rule_and_ranges(canary, api_as, viewer):
    _staging, stable, candidate, at = canary
    at(5)
    block = table(api_as, viewer)["assignment"]
    assert block["method"] == "sha256-bucket-v1" and block["buckets"] == 10_000
    assert block["ranges"] == [
        {"release": stable.number, "from": 0, "to": 9_500},
        {"release": candidate.number, "from": 9_500, "to": 10_000},
    ]


def test_server_and_client_put_every_key_on_the_same_release(canary, api_as, viewer):
    _staging, _stable, _candidate, at = canary
    at(25)
    body = table(api_as, viewer)
    for i in range(2_000):
        key = f"user-{i}"
        server = assignment.release_for(body["assignment"], "support-assistant", "staging", key)
        assert server is not None
        assert rewind_client.release_for(body, key) == server
    # The client's fallback (no assignment block, cumulative weights) is the same rule.
    without = {k: v for k, v in body.items() if k != "assignment"}
    assert all(
        rewind_client.release_for(without, f"t{i}") == rewind_client.release_for(body, f"t{i}") for i in range(500)
    )


@pytest.mark.parametrize("weight", [5, 25, 50])
def test_ten_thousand_keys_split_within_one_point_of_the_weights(canary, api_as, viewer, weight):
    _staging, _stable, candidate, at = canary
    at(weight)
    body = table(api_as, viewer)
    on_candidate = sum(rewind_client.release_for(body, f"conversation-{i}") == candidate.number for i in range(10_000))
    assert abs(on_candidate / 10_000 - weight / 100) <= 0.01


def test_a_key_on_the_candidate_stays_there_as_its_weight_grows():
    def candidate_keys(weight: int) -> set[str]:
        block = assignment.assignment_block("f", "prod", [(1, 100 - weight), (2, weight)])
        return {k for k in (f"u{i}" for i in range(5_000)) if assignment.release_for(block, "f", "prod", k) == 2}

    five, twenty_five, fifty = candidate_keys(5), candidate_keys(25), candidate_keys(50)
    assert five and five <= twenty_five <= fifty


def test_the_hash_is_the_documented_one():
    import hashlib

    digest = hashlib.sha256(b"support-assistant:production:tenant-42").digest()
    expected = int.from_bytes(digest[:8], "big") % 10_000
    assert assignment.bucket_of("support-assistant", "production", "tenant-42") == expected
    assert rewind_client.bucket_of("support-assistant", "production", "tenant-42") == expected
