"""Routing endpoint throughput under gunicorn (2 sync workers, no access log, as production runs it) as a ratio
to a bare Django JSON view and to a minimal WSGI app in the same workers, all measured in the same run, in turn,
with wrk as a bounded loopback load generator (1 thread, 8 connections, token-authenticated like a gateway). The
routing polls go through config.wsgi's application as production serves them (the gateway poll layer in front of
Django, rollouts/runs/api/routing_poll.py), the bare view through Django, the minimal app before both.

Targets: routing/bare Django >= 0.9 and routing/minimal WSGI >= 0.6 (medians over rounds of the ratio to the
adjacent round). Run: `.venv/bin/python -m bench routing_throughput` (needs Postgres on 127.0.0.1, wrk)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from bench._live import bench_database, free_port, gunicorn, redis_url, seed

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))


def _workers_cpu(master_pid: int) -> float:
    """CPU seconds (user + system) the gunicorn master's workers have used so far, from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # fields from the 3rd on: ppid, ..., utime (14th), stime (15th)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, token: str, master_pid: int) -> tuple[float, float]:
    """(requests per second, workers' CPU microseconds per request) over one wrk round."""
    cpu = _workers_cpu(master_pid)
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{SECONDS}s", "-H", f"Authorization: Token {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = _workers_cpu(master_pid) - cpu
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), round(cpu / max(requests, 1) * 1e6, 1)


def _ready(url: str, token: str, seconds: float = 60) -> None:
    """Both gunicorn workers import Django after the port opens; wait until the URL answers before timing it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def run() -> dict:
    if not shutil.which("wrk"):
        return {
            "name": "routing_throughput",
            "target": "routing/bare Django >= 0.9 and routing/minimal WSGI >= 0.6",
            "metrics": {},
            "ok": False,
            "notes": "wrk is not installed (apt-get install -y wrk)",
        }
    env = {"DATABASE_URL": bench_database("routing"), "REDIS_URL": redis_url()}
    seeded = seed(env)
    port = free_port()
    server = gunicorn(
        port, workers=2, env={**env, "DJANGO_SETTINGS_MODULE": "bench._settings"}, app="bench._wsgi:application"
    )
    base = f"http://127.0.0.1:{port}"
    routing_url = f"{base}/api/v1/routing/support-assistant/{seeded['env']}"
    bare_url = f"{base}/bench/bare-json"
    floor_url = f"{base}/bench/wsgi-floor"
    try:
        for url in (routing_url, bare_url, floor_url):
            _ready(url, seeded["token"])
        master = server.proc.pid
        for url in (routing_url, bare_url, floor_url):  # warm both workers' connections and caches
            _wrk(url, seeded["token"], master)
        rounds = {"bare": [], "routing": [], "floor": []}
        for _ in range(ROUNDS):
            for name, url in (("bare", bare_url), ("routing", routing_url), ("floor", floor_url)):
                rounds[name].append(_wrk(url, seeded["token"], master))
    finally:
        server.stop()
    if "GET /" in server.tail():
        raise RuntimeError("gunicorn wrote an access log; the comparison is meant without one:\n" + server.tail())
    bare, routing, floor = ([rps for rps, _ in rounds[name]] for name in ("bare", "routing", "floor"))
    cpu = {name: statistics.median(us for _, us in rounds[name]) for name in rounds}
    # Load from other processes on the machine drifts; each routing round runs right after its bare round, so
    # the median of the paired ratios is steadier than the ratio of medians (both are reported).
    ratio = statistics.median(r / b for r, b in zip(routing, bare, strict=True))
    ratio_floor = statistics.median(r / f for r, f in zip(routing, floor, strict=True))
    return {
        "name": "routing_throughput",
        "target": "routing/bare Django >= 0.9 and routing/minimal WSGI >= 0.6",
        "metrics": {
            "bare_json_rps_median": round(statistics.median(bare), 1),
            "routing_rps_median": round(statistics.median(routing), 1),
            "minimal_wsgi_rps_median": round(statistics.median(floor), 1),
            "ratio_to_bare_django": round(ratio, 3),
            "ratio_to_minimal_wsgi": round(ratio_floor, 3),
            "ratio_of_medians_bare": round(statistics.median(routing) / statistics.median(bare), 3),
            # CPU the workers spend per request does not depend on what else runs on the machine the way
            # throughput does: when the machine is busy, read these alongside the ratios.
            "bare_json_worker_cpu_us_per_request": cpu["bare"],
            "routing_worker_cpu_us_per_request": cpu["routing"],
            "minimal_wsgi_worker_cpu_us_per_request": cpu["floor"],
            "load_average_1m": round(os.getloadavg()[0], 1),
            "rounds": ROUNDS,
            "seconds_per_round": SECONDS,
        },
        "ok": ratio >= 0.9 and ratio_floor >= 0.6,
        "notes": f"bare rounds {bare}, routing rounds {routing}, minimal WSGI rounds {floor} (requests/s); "
        "gunicorn 2 sync workers, no access log; wrk -t1 -c8",
    }
