"""The gateway client: ETag polling and batched observations against the live server; retry and back-pressure
against a local server that answers like an overloaded Rewind."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from rewind_client import ObservationBatcher, RoutingClient
from rollouts.models import Observation
from rollouts.runs import assignment
from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release


@pytest.fixture
def canary(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1")
    candidate = release(approver, feature, prompt="v2")
    deploy(approver, staging, stable)
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": 20}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    return staging, stable, candidate


def record(i: int, release: int) -> dict:
    at = timezone.now() - timedelta(seconds=30)
    return {
        "feature": "support-assistant",
        "environment": "staging",
        "release": release,
        "time": at.isoformat(),
        "latency_ms": 100.0 + i % 7,
        "request_id": f"req-{i}",
    }


@pytest.mark.django_db(transaction=True)
def test_the_client_polls_with_etags_assigns_like_the_server_and_batches_observations(live_server, canary, responder):
    _staging, stable, candidate = canary
    token = Token.objects.create(user=responder).key
    routing = RoutingClient(live_server.url, token, "support-assistant", "staging")
    table = routing.refresh()
    assert table is not None and routing.refresh() is table and routing.not_modified == 1
    for i in range(300):
        key = f"user-{i}"
        assert routing.release_for(key) == assignment.release_for(
            table.body["assignment"], "support-assistant", "staging", key
        )
    assert table.manifest(candidate.number)["number"] == candidate.number

    batcher = ObservationBatcher(live_server.url, token, batch_size=250, flush_interval=0.2)
    for i in range(1_000):
        assert batcher.add(record(i, routing.release_for(f"user-{i}")))
    assert batcher.add(record(0, stable.number))  # a retried request: stored once
    assert batcher.flush(timeout=60)
    batcher.close()
    assert (batcher.sent, batcher.stored, batcher.duplicates, batcher.dropped) == (1_001, 1_000, 1, 0)
    assert Observation.objects.count() == 1_000
    share = Observation.objects.filter(release=candidate).count() / 1_000
    assert abs(share - 0.20) < 0.05


class Flaky:
    """Answers 503 (with Retry-After: 0) to the first ``failures`` posts, then 201; can stall or refuse."""

    def __init__(self, failures: int = 0, stall: float = 0.0, status: int = 201):
        self.failures, self.stall, self.status = failures, stall, status
        self.posts: list[int] = []
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                flaky.posts.append(len(body["records"]))
                time.sleep(flaky.stall)
                if len(flaky.posts) <= flaky.failures:
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                answer = json.dumps({"stored": len(body["records"]), "duplicates": 0}).encode()
                if flaky.status != 201:
                    answer = json.dumps({"detail": "bad", "errors": []}).encode()
                self.send_response(flaky.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_batch_is_retried_with_back_off_until_it_lands():
    server = Flaky(failures=2)
    try:
        batcher = ObservationBatcher(server.url, "t", batch_size=10, flush_interval=0.05, backoff=0.01)
        for i in range(10):
            batcher.add(record(i, 1))
        assert batcher.flush(timeout=10)
        batcher.close()
    finally:
        server.stop()
    assert server.posts == [10, 10, 10]
    assert (batcher.attempts, batcher.sent, batcher.dropped) == (3, 10, 0)


def test_a_refused_batch_is_dropped_not_retried_and_a_dead_server_is_given_up_on():
    refusing = Flaky(status=400)
    try:
        batcher = ObservationBatcher(refusing.url, "t", batch_size=5, flush_interval=0.05, backoff=0.01)
        for i in range(5):
            batcher.add(record(i, 1))
        assert batcher.flush(timeout=10)
        batcher.close()
    finally:
        refusing.stop()
    assert refusing.posts == [5] and batcher.rejected == 5

    dead = ObservationBatcher(
        "http://127.0.0.1:9", "t", batch_size=3, flush_interval=0.05, max_attempts=3, backoff=0.01
    )
    for i in range(3):
        dead.add(record(i, 1))
    assert dead.flush(timeout=10)
    dead.close()
    assert (dead.attempts, dead.dropped, dead.sent) == (3, 3, 0)


def test_a_full_queue_pushes_back_instead_of_growing():
    server = Flaky(stall=1.0)
    try:
        batcher = ObservationBatcher(server.url, "t", batch_size=5, flush_interval=0.01, max_queue=20)
        accepted = [batcher.add(record(i, 1)) for i in range(100)]
        assert accepted.count(True) <= 25 and accepted[-1] is False  # 20 queued, at most one batch in flight
        assert batcher.refused == accepted.count(False) and batcher.queued <= 25
        batcher.close(timeout=30)
    finally:
        server.stop()
    assert batcher.sent == accepted.count(True)
