"""The example gateway, run against the live server and a local OpenAI-compatible upstream: keys stay on one
release, requests reach that release's model, and observations arrive in Rewind."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from rollouts.models import Observation
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.openai_server import OpenAIServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "gateway" / "gateway.py"


def load_example():
    spec = importlib.util.spec_from_file_location("example_gateway", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_example_gateway_routes_sticky_keys_and_reports_observations(live_server, team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1", snapshot="gpt-4-0613")
    candidate = release(approver, feature, prompt="v2", snapshot="gpt-4o-2024-08-06")
    deploy(approver, staging, stable)
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": 50}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    token = Token.objects.create(user=responder).key
    example = load_example()
    with OpenAIServer() as upstream:
        gateway = example.Gateway(
            rewind_url=live_server.url,
            token=token,
            feature="support-assistant",
            environment="staging",
            upstream=upstream.base_url,
        ).start()
        try:
            seen: dict[str, set[int]] = {}
            for i in range(40):
                key = f"user-{i % 10}"
                status, answer, chosen = gateway.serve({"messages": [{"role": "user", "content": f"q{i}"}]}, key)
                assert status == 200 and "says" in answer["choices"][0]["message"]["content"]
                seen.setdefault(key, set()).add(chosen)
        finally:
            gateway.stop()
        models = {r["body"]["model"] for r in upstream.requests}
    assert all(len(releases) == 1 for releases in seen.values())  # sticky
    assert {r for rs in seen.values() for r in rs} == {stable.number, candidate.number}
    assert models == {"gpt-4-0613", "gpt-4o-2024-08-06"}
    assert Observation.objects.count() == 40
