"""Rollback latency: from the rollback API call to the routing endpoint answering with the new weights.

A live Celery worker (Redis broker) applies the rollback; gunicorn (2 workers) serves the API on loopback.
Each iteration POSTs /api/v1/rollbacks (immediate) toward the other release, then polls the routing endpoint
(If-None-Match, no sleep between polls beyond 2 ms) until the target release serves 100 %; then waits for the run
to finish before the next one. Target: p95 < 250 ms over N rollbacks (BENCH_ROLLBACKS, default 50).

Run: `REWIND_REDIS_DB=<n> .venv/bin/python -m bench rollback_latency` (Postgres and Redis on 127.0.0.1)."""

from __future__ import annotations

import os
import statistics
import time

import httpx

from bench._django import django_setup
from bench._live import bench_database, celery_worker, free_port, gunicorn, redis_url

N = int(os.environ.get("BENCH_ROLLBACKS", "50"))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> dict:
    url = bench_database("rollback")
    broker = redis_url()
    queue = f"rewind-bench-{os.getpid()}"
    os.environ["CELERY_QUEUE"] = queue
    django_setup()
    from bench._seed import seed

    seeded = seed()
    env = {"DATABASE_URL": url, "REDIS_URL": broker, "CELERY_QUEUE": queue}
    worker = celery_worker(env)
    port = free_port()
    server = gunicorn(port, workers=2, env=env)
    latencies, server_side = [], []
    routing_path = f"/api/v1/routing/support-assistant/{seeded['env']}"
    first, second = seeded["releases"]
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {seeded['token']}"}, timeout=30
        ) as client:
            etag = client.get(routing_path).headers["ETag"]
            for i in range(N):
                target = first if i % 2 == 0 else second
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/rollbacks",
                    json={
                        "feature": "support-assistant",
                        "environment": seeded["env"],
                        "to_release": target,
                        "mode": "immediate",
                        "reason": f"bench {i}",
                    },
                )
                if response.status_code != 201:
                    raise RuntimeError(f"rollback {i}: {response.status_code} {response.text}")
                run_id = response.json()["id"]
                while True:
                    r = client.get(routing_path, headers={"If-None-Match": etag})
                    if r.status_code == 200:
                        etag = r.headers["ETag"]
                        if [(x["release"], x["weight"]) for x in r.json()["releases"]] == [(target, 100)]:
                            break
                    time.sleep(0.002)
                latencies.append((time.perf_counter() - started) * 1000)
                deadline = time.monotonic() + 30
                while (run := client.get(f"/api/v1/runs/{run_id}/").json())["state"] != "succeeded":
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"run {run_id} did not finish: {run['state']} {run['state_reason']}")
                    time.sleep(0.005)
                server_side.append(run["time_to_rollback_seconds"] * 1000)
    finally:
        server.stop()
        worker.stop()
    p95 = _p(latencies, 0.95)
    return {
        "name": "rollback_latency",
        "target": "p95 < 250 ms",
        "metrics": {
            "rollbacks": N,
            "p50_ms": round(_p(latencies, 0.5), 1),
            "p95_ms": round(p95, 1),
            "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.mean(latencies), 1),
            "time_to_rollback_recorded_p50_ms": round(_p(server_side, 0.5), 1),
            "time_to_rollback_recorded_p95_ms": round(_p(server_side, 0.95), 1),
        },
        "ok": p95 < 250,
        "notes": "API call -> routing endpoint shows target at 100 %; live celery worker (concurrency 1), "
        "gunicorn 2 sync workers, Redis broker, Postgres; staging environment (no impact gate)",
    }
