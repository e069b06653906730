"""`make run`'s worker supervisor: a worker that dies is restarted, and the terminal says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.worker import test_database_url as database_url_for_processes


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        assert proc.poll() is None, "the supervisor exited"
        time.sleep(0.2)
    raise AssertionError("no worker became ready")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_dies_is_restarted_and_the_terminal_says_so(tmp_path):
    ready = tmp_path / "ready"
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_processes(),
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "REWIND_VAR_DIR": str(tmp_path),
        "REWIND_WORKER_READY_FILE": str(ready),
    }
    out = tmp_path / "terminal.txt"
    with out.open("wb") as terminal:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--concurrency", "1", "--restart-delay", "0.5"],
            env=env,
            stdout=terminal,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
    try:
        first = _wait_for(ready, proc)
        ready.unlink()
        os.kill(first, signal.SIGKILL)  # a crash, as the filesystem broker's JSONDecodeError was
        second = _wait_for(ready, proc)
        assert second != first
        text = out.read_text()
        assert "WORKER DIED: the Celery worker exited with code -9" in text, text
        assert text.count("Celery worker + beat running") == 2, text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
