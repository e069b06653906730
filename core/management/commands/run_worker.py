"""Runs the Celery worker (with beat) and restarts it whenever it dies, saying so on the terminal.

This is what ``make run`` uses on the embedded default; production runs its workers under its own supervisor.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run a Celery worker with beat; restart it when it exits."

    def add_arguments(self, parser):
        parser.add_argument("--log", default=str(Path(settings.VAR_DIR) / "worker.log"))
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--restart-delay", type=float, default=2.0)

    def handle(self, *args, log: str, concurrency: int, restart_delay: float, **options):
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "-l", "info",
            "--concurrency", str(concurrency),
            "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
        ]  # fmt: skip
        stopping_since: float | None = None
        child: subprocess.Popen | None = None

        def stop(signum, _frame):
            nonlocal stopping_since
            stopping_since = time.monotonic()
            if child and child.poll() is None:
                child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        starts = 0
        while stopping_since is None:
            starts += 1
            with open(log, "ab") as out:
                child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - fixed argv
                self.stdout.write(f"Celery worker + beat running (pid {child.pid}, log {log})", ending="\n")
                self.stdout.flush()
                code = self._wait(child, lambda: stopping_since)
            if stopping_since is not None:
                break
            self.stderr.write(
                f"WORKER DIED: the Celery worker exited with code {code} (start #{starts}); restarting in "
                f"{restart_delay:g} s. The last lines of {log} say why."
            )
            self.stderr.flush()
            time.sleep(restart_delay)

    @staticmethod
    def _wait(child: subprocess.Popen, stopping_since, grace: float = 15.0) -> int:
        """The child's exit code; a child still there ``grace`` seconds after the stop signal is killed."""
        while (code := child.poll()) is None:
            since = stopping_since()
            if since is not None and time.monotonic() - since > grace:
                child.kill()
            time.sleep(0.2)
        return code
