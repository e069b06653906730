"""A rollout judged on metrics from a real Prometheus (scraping an exporter the test runs) promotes on healthy data,
rolls back on an injected regression, and never passes when Prometheus does not answer."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import Counter, Histogram

from rollouts.models import Analysis, RolloutRun, RunState
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release
from tests.support.prometheus import Exporter, Prometheus, prometheus_available

pytestmark = pytest.mark.django_db

WINDOW_SECONDS = 8
EVENTS = (
    'sum(increase(gateway_requests_total{release="{{release}}",env="{{environment}}",outcome="error"}[{{window}}]))'
)
TRIALS = 'sum(increase(gateway_requests_total{release="{{release}}",env="{{environment}}"}[{{window}}]))'
BUCKETS = (
    'sum by (le) (increase(gateway_latency_seconds_bucket{release="{{release}}",env="{{environment}}"}[{{window}}]))'
)


def metric_rows(address: str) -> list[dict]:
    source = {"type": "prometheus", "address": address, "timeout_seconds": 2}
    return [
        {
            "name": "error_rate",
            "kind": "binary",
            "bad_direction": "increase",
            "critical": True,
            "allowed_change": 0.01,
            "source": {**source, "events": EVENTS, "trials": TRIALS},
        },
        {
            "name": "latency_ms",
            "kind": "continuous",
            "bad_direction": "increase",
            "critical": True,
            "allowed_change": 0.1,
            "source": {**source, "buckets": BUCKETS, "scale": 1000},
        },
    ]


class Gateway:
    """Serves ~100 requests/s per release into the exporter's counters and histogram until stopped."""

    def __init__(self, exporter: Exporter, *, stable: int, candidate: int, candidate_error_every: int, slow: float):
        self.requests = Counter(
            "gateway_requests", "Requests", ["release", "env", "outcome"], registry=exporter.registry
        )
        self.latency = Histogram(
            "gateway_latency_seconds",
            "Latency",
            ["release", "env"],
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.3, 2.0),
            registry=exporter.registry,
        )
        self.arms = {stable: (100, 1.0), candidate: (candidate_error_every, slow)}
        for r in self.arms:
            for outcome in ("ok", "error"):
                self.requests.labels(str(r), "staging", outcome)
            self.latency.labels(str(r), "staging")
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        tick = 0
        while not self.stop_event.wait(0.1):
            for r, (error_every, slow) in self.arms.items():
                for i in range(10):
                    n = tick * 10 + i
                    self.requests.labels(str(r), "staging", "error" if n % error_every == 0 else "ok").inc()
                    self.latency.labels(str(r), "staging").observe((0.08 + 0.04 * (n % 10)) * slow)
            tick += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()


@pytest.fixture
def prometheus_with_exporter():
    exporter = Exporter()
    prometheus = Prometheus([f"127.0.0.1:{exporter.port}"]).wait_ready()
    yield prometheus, exporter
    prometheus.stop()
    exporter.stop()


@pytest.fixture
def staged(team, approver):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    return staging, stable, candidate


def start(responder, staging, candidate, address: str) -> RolloutRun:
    return runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[
            {"type": "weight", "weight": 50},
            {"type": "analysis", "seconds": WINDOW_SECONDS, "looks": 1},
            {"type": "weight", "weight": 100},
        ],
        config={"metrics": metric_rows(address), "judge": {"spending": "pocock"}},
    )


def drive(run: RolloutRun, until: set[str], timeout: float = 60) -> RolloutRun:
    """Do what the worker does on every tick, until the run reaches one of ``until``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs.run_advance(run_id=run.pk)
        run.refresh_from_db()
        if run.state in until:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run stayed {run.state}: {list(run.analyses.values_list('verdict', 'result'))}")


needs_prometheus = pytest.mark.skipif(not prometheus_available(), reason="Debian's prometheus is not installed")


@needs_prometheus
def test_healthy_metrics_from_prometheus_promote_the_candidate(prometheus_with_exporter, staged, responder, web_as):
    prometheus, exporter = prometheus_with_exporter
    staging, stable, candidate = staged
    with Gateway(exporter, stable=stable.number, candidate=candidate.number, candidate_error_every=100, slow=1.0):
        prometheus.wait_for_series('gateway_requests_total{outcome="error"}')
        run = drive(start(responder, staging, candidate, prometheus.url), {RunState.SUCCEEDED, RunState.ROLLED_BACK})
    assert run.state == RunState.SUCCEEDED
    judged = Analysis.objects.filter(run=run).last()
    assert judged.verdict == "pass"
    metrics = {m["name"]: m for m in judged.result["metrics"]}
    assert {m["source"] for m in metrics.values()} == {f"prometheus {prometheus.url}"}
    assert metrics["error_rate"]["n_canary"] > 300 and metrics["latency_ms"]["n_canary"] > 300
    page = web_as(responder).get(f"/rollouts/{run.pk}/").content.decode()
    assert f"prometheus {prometheus.url}" in page


@needs_prometheus
def test_an_injected_regression_in_prometheus_rolls_back(prometheus_with_exporter, staged, responder):
    prometheus, exporter = prometheus_with_exporter
    staging, stable, candidate = staged
    # The candidate fails one request in six and is 40 % slower.
    with Gateway(exporter, stable=stable.number, candidate=candidate.number, candidate_error_every=6, slow=1.4):
        prometheus.wait_for_series('gateway_requests_total{outcome="error"}')
        run = drive(start(responder, staging, candidate, prometheus.url), {RunState.SUCCEEDED, RunState.ROLLED_BACK})
    assert run.state == RunState.ROLLED_BACK
    failed = Analysis.objects.get(run=run, verdict="fail")
    assert "regressed" in failed.result["reason"]


def test_a_prometheus_that_does_not_answer_is_inconclusive_never_a_pass(staged, responder):
    staging, _stable, candidate = staged
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[
            {"type": "weight", "weight": 50},
            {"type": "analysis", "seconds": 0.2, "looks": 1, "max_wait_looks": 1},
            {"type": "weight", "weight": 100},
        ],
        config={"metrics": metric_rows("http://127.0.0.1:9")},
    )
    run = drive(run, {RunState.PAUSED, RunState.SUCCEEDED, RunState.ROLLED_BACK}, timeout=20)
    assert run.state == RunState.PAUSED  # waits for a person: no evidence is never a promotion
    judged = Analysis.objects.get(run=run)
    assert judged.verdict == "inconclusive"
    assert all(m["verdict"] == "inconclusive" and "provider error" in m["reason"] for m in judged.result["metrics"])


def test_a_run_with_a_bad_prometheus_source_is_refused_with_the_field(staged, api_as, responder):
    staging, _stable, candidate = staged
    rows = metric_rows("not-a-url")
    rows[0]["source"]["events"] = "sum(x{{tenant}})"
    response = api_as(responder).post(
        "/api/v1/runs",
        {"environment": staging.pk, "candidate_release": candidate.pk, "config": {"metrics": rows}},
        format="json",
    )
    assert response.status_code == 400
    text = str(response.json())
    assert "source.address" in text and "tenant" in text
    assert not RolloutRun.objects.exists()
