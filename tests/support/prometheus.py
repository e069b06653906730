"""A real Prometheus (Debian's /usr/bin/prometheus) on loopback scraping an exporter the test runs.

The exporter serves a test-owned prometheus_client registry; Prometheus scrapes it every SCRAPE_SECONDS, keeps its
TSDB in a temporary directory, and is stopped (process group) at the end. Ports are picked by binding port 0.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, start_http_server

PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_SECONDS = 1


def prometheus_available() -> bool:
    """True when the binary is there; with REWIND_REQUIRE_PROMETHEUS=1 (CI) always True, so a missing binary fails
    the tests instead of skipping them."""
    return os.access(PROMETHEUS, os.X_OK) or os.environ.get("REWIND_REQUIRE_PROMETHEUS") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    def __init__(self, targets: list[str]):
        self.dir = Path(tempfile.mkdtemp(prefix="rewind-prometheus-"))
        self.port = _free_port()
        (self.dir / "prometheus.yml").write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_SECONDS}s\n"
            f"  evaluation_interval: {SCRAPE_SECONDS}s\n"
            "scrape_configs:\n"
            "  - job_name: gateway\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
        )
        self.log = open(self.dir / "log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> Prometheus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + self.tail())
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready:\n" + self.tail())

    def wait_for_series(self, query: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
            if body.get("data", {}).get("result"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"no series for {query} after {timeout} s:\n" + self.tail())

    def tail(self) -> str:
        self.log.flush()
        return (self.dir / "log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
