"""Look windows and time-matched samples: what the judge reads for a window is exactly the requests inside it,
for every metric and both arms, whatever minute the window starts or ends in."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from rollouts.judging.arms import arm_data
from rollouts.judging.samples import RESERVOIR_SIZE, reservoir_slots, time_matched
from rollouts.models import ObservationSample
from tests.rollouts.observation_support import T0, feature_with_releases, record

URL = "/api/v1/observations"
S = timedelta(seconds=1)
M = timedelta(minutes=1)


@pytest.fixture
def setup(db, responder, team):
    feature, prod, _staging, releases = feature_with_releases(actor=responder, team=team)
    return feature, prod, releases


def post(client, records):
    response = client.post(URL, {"records": records}, format="json")
    assert response.status_code == 201, response.json()


def burst(feature, env, rel, at, n, *, error=False, latency=120.0):
    return [record(feature, env, rel, at, error=error, latency_ms=latency) for _ in range(n)]


def test_windows_at_minute_boundaries_count_exactly_the_requests_inside_them(api_as, responder, setup):
    feature, prod, (r1, _r2, _r3) = setup
    start = T0 + 10 * M  # a minute boundary: the step started here
    batch = [
        *burst(feature, prod, r1, start - 30 * S, 100, error=True, latency=9000.0),  # the previous step
        *burst(feature, prod, r1, start, 7, latency=100.0),  # at the boundary: inside
        *burst(feature, prod, r1, start + 59 * S, 5, error=True, latency=200.0),
        *burst(feature, prod, r1, start + M + 20 * S, 13, latency=300.0),
        *burst(feature, prod, r1, start + 2 * M, 9, latency=400.0),  # at the end boundary: outside
    ]
    post(api_as(responder), batch)

    whole = arm_data(environment=prod, release=r1, start=start, end=start + 2 * M)
    assert whole.requests == 7 + 5 + 13 and whole.binary["error_rate"] == (5, 25)
    assert sorted(set(whole.continuous["latency_ms"])) == [100.0, 200.0, 300.0]
    assert len(whole.continuous["latency_ms"]) == 25

    # A window starting mid-minute reads that minute's raw rows: nothing before its start leaks in.
    partial = arm_data(environment=prod, release=r1, start=start + 30 * S, end=start + M + 30 * S)
    assert partial.requests == 5 + 13 and partial.binary["error_rate"] == (5, 18)
    assert sorted(set(partial.continuous["latency_ms"])) == [200.0, 300.0]

    inside_one_minute = arm_data(environment=prod, release=r1, start=start + S, end=start + 59 * S)
    assert inside_one_minute.requests == 0 and inside_one_minute.binary["error_rate"] == (0, 0)

    before = arm_data(environment=prod, release=r1, start=start - M, end=start)
    assert before.requests == 100 and before.binary["error_rate"] == (100, 100)


def test_each_minute_keeps_a_bounded_reservoir_and_the_window_is_sampled_uniformly(api_as, responder, setup):
    feature, prod, (r1, r2, _r3) = setup
    busy, quiet = T0 + 20 * M, T0 + 21 * M
    client = api_as(responder)
    post(client, burst(feature, prod, r1, busy + S, 3 * RESERVOIR_SIZE, latency=100.0))
    post(client, burst(feature, prod, r1, busy + 2 * S, RESERVOIR_SIZE, latency=101.0))  # a second batch
    post(client, burst(feature, prod, r1, quiet + S, RESERVOIR_SIZE, latency=500.0))
    assert ObservationSample.objects.filter(release=r1, minute=busy).count() == RESERVOIR_SIZE
    assert ObservationSample.objects.filter(release=r1, minute=quiet).count() == RESERVOIR_SIZE

    arm = arm_data(environment=prod, release=r1, start=busy, end=quiet + M)
    values = arm.continuous["latency_ms"]
    assert arm.requests == 5 * RESERVOIR_SIZE
    # The busy minute had 4x the requests of the quiet one: it must weigh 4x in the sample, not 1x.
    share_quiet = float(np.mean(values == 500.0))
    assert 0.15 <= share_quiet <= 0.25, share_quiet
    assert not arm_data(environment=prod, release=r2, start=busy, end=quiet + M).continuous["latency_ms"].size


def test_algorithm_r_gives_every_request_of_a_minute_the_same_chance():
    rng = random.Random(1)
    kept = np.zeros(4 * RESERVOIR_SIZE)
    for _ in range(2000):
        slots: dict[int, int] = {}
        seen = 0
        for size in (RESERVOIR_SIZE // 2, RESERVOIR_SIZE, 2 * RESERVOIR_SIZE + RESERVOIR_SIZE // 2):
            for slot, i in reservoir_slots(seen, size, rng):
                slots[slot] = seen + i
            seen += size
        kept[list(slots.values())] += 1
    rate = kept / 2000
    assert abs(rate.mean() - 0.25) < 1e-9  # exactly K of 4K kept every time
    assert rate.min() > 0.2 and rate.max() < 0.3


def test_time_matched_thins_every_minute_to_the_same_fraction():
    samples = {"a": [(1.0, None, 0.0)] * 10, "b": [(2.0, None, 0.0)] * 10}
    values = time_matched(samples, {"a": 10, "b": 100}, seed=3, columns=["latency_ms"])["latency_ms"]
    assert list(values) == [1.0] * 1 + [2.0] * 10  # 10 % of each minute
