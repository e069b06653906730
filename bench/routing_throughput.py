"""Routing endpoint throughput under gunicorn (2 sync workers) as a ratio to a bare Django JSON view, both
measured in the same run, alternating, with wrk as a bounded loopback load generator (1 thread, 8 connections).

Target: ratio >= 0.7. Run: `.venv/bin/python -m bench routing_throughput` (needs Postgres on 127.0.0.1, wrk)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess

from bench._django import django_setup
from bench._live import bench_database, free_port, gunicorn, redis_url

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))


def _wrk(url: str, token: str) -> float:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{SECONDS}s", "-H", f"Authorization: Token {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def run() -> dict:
    if not shutil.which("wrk"):
        return {
            "name": "routing_throughput",
            "target": "ratio >= 0.7",
            "metrics": {},
            "ok": False,
            "notes": "wrk is not installed (apt-get install -y wrk)",
        }
    url = bench_database("routing")
    broker = redis_url()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench._settings"
    django_setup()
    from bench._seed import seed

    seeded = seed()
    port = free_port()
    server = gunicorn(
        port, workers=2, env={"DATABASE_URL": url, "REDIS_URL": broker, "DJANGO_SETTINGS_MODULE": "bench._settings"}
    )
    base = f"http://127.0.0.1:{port}"
    routing_url = f"{base}/api/v1/routing/support-assistant/{seeded['env']}"
    bare_url = f"{base}/bench/bare-json"
    try:
        _wrk(routing_url, seeded["token"])  # warm both workers' connections and caches
        _wrk(bare_url, seeded["token"])
        bare, routing = [], []
        for _ in range(ROUNDS):
            bare.append(_wrk(bare_url, seeded["token"]))
            routing.append(_wrk(routing_url, seeded["token"]))
    finally:
        server.stop()
    ratio = statistics.median(routing) / statistics.median(bare)
    return {
        "name": "routing_throughput",
        "target": "routing/bare >= 0.7",
        "metrics": {
            "bare_json_rps_median": round(statistics.median(bare), 1),
            "routing_rps_median": round(statistics.median(routing), 1),
            "ratio": round(ratio, 3),
            "rounds": ROUNDS,
            "seconds_per_round": SECONDS,
        },
        "ok": ratio >= 0.7,
        "notes": f"bare rounds {bare}, routing rounds {routing}; gunicorn 2 sync workers; wrk -t1 -c8",
    }
