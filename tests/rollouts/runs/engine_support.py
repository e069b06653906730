"""What the run-engine tests that drive real worker and beat processes share: a beat, a staged environment, and
waiting on a run's state."""

from __future__ import annotations

import time

import pytest

from rollouts.models import RolloutRun
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.beat import CeleryBeat


@pytest.fixture
def beat(transactional_db):
    process = CeleryBeat(tick_seconds=0.3)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def staged(team, approver):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    return staging, stable, candidate


def wait_for(predicate, timeout: float, *logs) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out\n" + "\n".join(p.log()[-4000:] for p in logs))


def state_of(run) -> str:
    return RolloutRun.objects.values_list("state", flat=True).get(pk=run.pk)
