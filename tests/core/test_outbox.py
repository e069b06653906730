"""The transactional outbox through the user's path: a broker outage loses no task and fails no committed change.

Redis here is a server of the test's own (its own port), stopped and started again while a real worker and a
real beat (which runs the outbox sweep) wait on it.
"""

from __future__ import annotations

import time

import pytest
from celery import current_app

from core.models import OutboxTask
from core.outbox import outbox_enqueue, outbox_pending
from core.tasks import worker_heartbeat
from diagnostics.models import BehaviourReport, ReportStatus
from rollouts.models import Environment, RolloutRun, RunState
from tests.diagnostics.reports.conftest import jsonl, outputs, upload
from tests.diagnostics.reports.conftest import prompt_set_version as prompt_set_version  # fixture
from tests.diagnostics.reports.conftest import releases as releases  # fixture
from tests.rollouts.factories import deploy
from tests.support.beat import CeleryBeat
from tests.support.redis_server import RedisServer
from tests.support.worker import CeleryWorker


def _use_broker(url: str) -> None:
    """Point this process's Celery app (the web side) at ``url`` and drop its pooled connections."""
    current_app.conf.broker_url = url
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def private_redis():
    server = RedisServer()
    server.start()
    before = current_app.conf.broker_url
    _use_broker(server.url)
    try:
        yield server
    finally:
        _use_broker(before)
        server.stop()


@pytest.fixture
def worker_and_beat(private_redis, transactional_db):
    env = {
        "REDIS_URL": private_redis.url,
        "REWIND_OUTBOX_GRACE_SECONDS": "0.5",
        "REWIND_OUTBOX_SWEEP_SECONDS": "1",
    }
    worker = CeleryWorker(name="outbox", extra_env=env)
    worker.start()
    beat = CeleryBeat(extra_env=env)
    beat.start()
    try:
        yield worker, beat
    finally:
        beat.stop()
        worker.stop()


def _wait(predicate, what: str, worker, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen; worker log:\n{worker.log()[-4000:]}")


@pytest.mark.worker
def test_writes_commit_and_answer_2xx_while_redis_is_down_and_every_task_runs_once_it_is_back(
    private_redis, worker_and_beat, api_as, responder, approver, releases, prompt_set_version
):
    worker, _beat = worker_and_beat
    release_a, release_b = releases
    environment = Environment.objects.create(feature=release_a.feature, name="staging")
    deploy(approver, environment, release_a)
    deploy(approver, environment, release_b)
    version = prompt_set_version()
    client = api_as(responder)

    private_redis.stop()
    report = client.post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": release_a.pk,
            "release_b": release_b.pk,
            "outputs_a": upload("a.jsonl", jsonl(outputs())),
            "outputs_b": upload("b.jsonl", jsonl(outputs())),
        },
        format="multipart",
    )
    rollback = client.post(
        "/api/v1/rollbacks",
        {"feature": release_a.feature.slug, "environment": "staging", "reason": "errors up"},
        format="json",
    )
    assert report.status_code == 201, report.content
    assert rollback.status_code == 201, rollback.content
    assert report.json()["status"] == ReportStatus.QUEUED
    for answer in (report, rollback):
        assert "queued" in answer["X-Rewind-Queued"]
    waiting = OutboxTask.objects.filter(done_at__isnull=True, dispatched_at__isnull=True)
    assert {row.task for row in waiting} == {"diagnostics.report_run", "rollouts.run_advance"}
    assert all(row.last_error for row in waiting)

    private_redis.start()
    report_id, run_id = report.json()["id"], rollback.json()["id"]
    _wait(lambda: BehaviourReport.objects.get(pk=report_id).status == ReportStatus.SUCCEEDED, "report", worker)
    _wait(lambda: RolloutRun.objects.get(pk=run_id).state == RunState.SUCCEEDED, "rollback", worker)
    _wait(lambda: not OutboxTask.objects.filter(done_at__isnull=True).exists(), "outbox drained", worker)
    assert environment.deployments.order_by("-live_at").first().release == release_a


@pytest.mark.worker
def test_a_task_the_broker_took_but_no_worker_finished_is_sent_again(private_redis, transactional_db, settings):
    """A message lost in flight (here: sent while no worker listened, then dropped with the broker's memory)."""
    row = outbox_enqueue(worker_heartbeat)
    row.refresh_from_db()
    assert row.dispatched_at is not None and row.done_at is None
    private_redis.stop()
    private_redis.start()  # an empty Redis: the message is gone
    settings.REWIND_OUTBOX = {**settings.REWIND_OUTBOX, "grace_seconds": 0, "redeliver_seconds": 0}
    assert list(outbox_pending()) == [row]
    worker = CeleryWorker(name="redeliver", extra_env={"REDIS_URL": private_redis.url})
    worker.start()
    try:
        from core.outbox import outbox_sweep

        assert outbox_sweep()["sent"] == 1
        _wait(lambda: OutboxTask.objects.get(pk=row.pk).done_at is not None, "redelivered task", worker, timeout=60)
    finally:
        worker.stop()
