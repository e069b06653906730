"""Every API operation answers as the OpenAPI schema says, and never with a 5xx: schemathesis against a live
server, over every operation, with a bounded number of generated requests per operation.

REWIND_SCHEMATHESIS_EXAMPLES (default 5) bounds the examples per operation; the seed is fixed so a failure
reproduces (REWIND_SCHEMATHESIS_SEED picks another)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from rollouts.models import Environment
from tests.rollouts.factories import deploy, feature_with_envs, release

EXAMPLES = os.environ.get("REWIND_SCHEMATHESIS_EXAMPLES", "5")
SEED = os.environ.get("REWIND_SCHEMATHESIS_SEED", "20261201")


@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_the_schema_says_without_server_errors(
    live_server, team, admin_user, approver, tmp_path
):
    feature, staging, _production = feature_with_envs(team)
    for prompt in ("v1", "v2"):
        deploy(approver, staging, release(approver, feature, prompt=prompt))
    assert Environment.objects.exists()
    token = Token.objects.create(user=admin_user).key
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st), "run", f"{live_server.url}/api/schema/?format=json",
            "--url", live_server.url,
            "-H", f"Authorization: Token {token}",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--phases", "examples,fuzzing",
            "--max-examples", EXAMPLES,
            "--seed", SEED,
            "--workers", "1",
            "--generation-database", "none",
            "--request-timeout", "30",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # schemathesis keeps a cache directory where it runs
    )  # fmt: skip
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    assert "Tested: " in summary and " failed" not in summary.split("SUMMARY")[-1], summary
