"""Live processes for benchmarks: a dedicated Postgres database, gunicorn and a Celery worker on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_database(topic: str) -> str:
    """Recreate rewind_bench_<topic> (only ever a rewind_bench_* database); returns its URL. This process's
    environment is left alone, so benchmarks run together (`make bench`) do not see each other's settings."""
    name = f"rewind_bench_{topic}"
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def seed(env: dict) -> dict:
    """Migrate and seed the bench database in a subprocess (see bench/_seed.py); returns what it created."""
    out = subprocess.run(
        [sys.executable, "-m", "bench._seed"], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"seeding failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def redis_url() -> str:
    """The broker and routing mirror for live benchmarks: REDIS_URL, else db REWIND_REDIS_DB on 127.0.0.1."""
    return os.environ.get("REDIS_URL") or f"redis://127.0.0.1:6379/{os.environ.get('REWIND_REDIS_DB', '0')}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, args: list[str], env: dict, name: str, unset: tuple[str, ...] = ()):
        self.log = Path(tempfile.mkdtemp(prefix=f"rewind-bench-{name}-")) / "log"
        fh = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        full_env = {k: v for k, v in {**os.environ, **env}.items() if k not in unset}
        self.proc = subprocess.Popen(
            args, env=full_env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def gunicorn(port: int, *, workers: int = 2, env: dict | None = None, app: str = "config.wsgi:application") -> Process:
    """Sync workers with no access log at all (gunicorn's default; a log file, even /dev/null, formats every
    line), so no GUNICORN_CMD_ARGS from the caller's environment either."""
    p = Process(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
        ],
        env or {},
        "gunicorn",
        unset=("GUNICORN_CMD_ARGS",),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p
        except OSError:
            if p.proc.poll() is not None:
                raise RuntimeError("gunicorn died:\n" + p.tail()) from None
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start:\n" + p.tail())


def celery_worker(env: dict | None = None, concurrency: int = 1) -> Process:
    ready = Path(tempfile.mkdtemp(prefix="rewind-bench-ready-")) / "ready"
    p = Process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            str(concurrency),
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        {**(env or {}), "REWIND_WORKER_READY_FILE": str(ready)},
        "worker",
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if p.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("worker did not start:\n" + p.tail())
        time.sleep(0.1)
    return p
