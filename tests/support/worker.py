"""Start and stop real Celery worker processes for tests (never an in-process fake)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection


def test_database_url() -> str:
    """The URL of the test database pytest-django created, for processes started by the tests."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class CeleryProcess:
    """A ``celery -A config <command>`` process in its own process group, reading the test database and queue,
    logging to a file of its own. Subclasses name the command and its arguments."""

    kind = "process"

    def __init__(self, *, extra_env: dict | None = None):
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self._dir = Path(tempfile.mkdtemp(prefix=f"rewind-{self.kind}-"))
        self.log_path = self._dir / f"{self.kind}.log"

    def celery_args(self) -> list[str]:
        raise NotImplementedError

    def _spawn(self, env: dict) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            **env,
            **self.extra_env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *self.celery_args()],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class CeleryWorker(CeleryProcess):
    kind = "worker"

    def __init__(self, *, concurrency: int = 1, name: str = "w1", extra_env: dict | None = None):
        super().__init__(extra_env=extra_env)
        self.concurrency = concurrency
        self.name = name

    @property
    def ready_file(self) -> Path:
        return self._dir / "ready"

    def celery_args(self) -> list[str]:
        return [
            "worker",
            "-l",
            "info",
            "-n",
            f"{self.name}@%h",
            "--concurrency",
            str(self.concurrency),
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]

    def start(self, timeout: float = 60) -> None:
        self.ready_file.unlink(missing_ok=True)
        self._spawn({"REWIND_WORKER_READY_FILE": str(self.ready_file)})
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker did not start; log:\n{self.log()}")
            time.sleep(0.1)

    def __enter__(self) -> CeleryWorker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
