"""Debian's Prometheus and Alertmanager for tests, on loopback and ports picked at random, with a tiny exporter
whose gauges the test sets. Intervals are short so an alert fires, repeats and resolves within seconds."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

# CI sets these, so missing binaries fail there instead of skipping.
requires_prometheus = pytest.mark.skipif(
    not (os.path.exists(PROMETHEUS) and os.path.exists(ALERTMANAGER))
    and "1" not in (os.environ.get("REWIND_REQUIRE_BROWSER"), os.environ.get("REWIND_REQUIRE_SERVICES")),
    reason=f"needs Debian's prometheus and prometheus-alertmanager ({PROMETHEUS}, {ALERTMANAGER})",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    """Serves /metrics in the Prometheus text format from a dict of gauge lines."""

    def __init__(self):
        self.gauges: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = "".join(f"{name} {value}\n" for name, value in exporter.gauges.items()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Process:
    def __init__(self, name: str, args: list[str], workdir: Path):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def wait_ready(url: str, process: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} not ready at {url}:\n{process.log()[-3000:]}")


class AlertingStack:
    """Prometheus scraping the exporter and evaluating ``rules``, sending to an Alertmanager whose one receiver is
    a webhook to ``webhook_url`` with ``Authorization: Bearer <bearer>``."""

    def __init__(self, *, exporter: Exporter, rules: str, webhook_url: str, bearer: str):
        self.dir = Path(tempfile.mkdtemp(prefix="rewind-prom-"))
        self.am_port, self.prom_port = free_port(), free_port()
        (self.dir / "alertmanager.yml").write_text(
            f"""route:
  receiver: rewind
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: rewind
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: "{bearer}"
"""
        )
        (self.dir / "rules.yml").write_text(rules)
        (self.dir / "prometheus.yml").write_text(
            f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{self.dir / "rules.yml"}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{self.am_port}"]
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ["{exporter.address}"]
"""
        )
        self.processes: list[Process] = []

    def start(self) -> AlertingStack:
        am = Process(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.am_port}",
                f"--web.external-url=http://127.0.0.1:{self.am_port}/",
                "--cluster.listen-address=",  # no gossip port: a single instance on loopback
            ],
            self.dir,
        )
        self.processes.append(am)
        prom = Process(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
                f"--web.external-url=http://127.0.0.1:{self.prom_port}/",
                "--rules.alert.resend-delay=1s",
            ],
            self.dir,
        )
        self.processes.append(prom)
        wait_ready(f"http://127.0.0.1:{self.am_port}/-/ready", am)
        wait_ready(f"http://127.0.0.1:{self.prom_port}/-/ready", prom)
        return self

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in self.processes)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
