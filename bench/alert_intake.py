"""Alert intake: Alertmanager notifications per second through the real hook (gunicorn on 127.0.0.1, bearer
secret checked, payload parsed, de-duplication by fingerprint and group key under the source's row lock).

Uses its own database (rewind_bench_alerts). Two workloads, each with CONCURRENCY senders:
- ``storm``: NOTIFICATIONS notifications spread over GROUPS alert groups of 5 alerts each, in random order — the
  first of each group opens an incident, the rest are de-duplicated onto it;
- ``one cause``: the same number, all one group (an alert storm with a single cause): one incident.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench._live import ROOT, bench_database, free_port, gunicorn, redis_url, seed
from bench._stats import percentile

NOTIFICATIONS = int(os.environ.get("BENCH_ALERTS", "600"))
GROUPS = 20
CONCURRENCY = 8
SECRET = "bench-alert-secret"
TARGET_PER_S = (
    20  # Alertmanager sends a group at most once per group_interval (5 min by default): 20/s is 6,000 busy groups
)

SETUP = """
from core.models import User
from incidents.alerts.services import alert_route_create, alert_source_create
from rollouts.models import Environment
admin = User.objects.create_user(username="bench-admin", role="admin")
env = Environment.objects.select_related("feature").get(feature__slug="support-assistant", name="{env}")
source, _ = alert_source_create(actor=admin, slug="bench", name="Bench", kind="alertmanager", secret="{secret}")
alert_route_create(actor=admin, source=source, matchers={{"feature": "support-assistant"}}, environment=env,
                   action="open")
"""

COUNTS = """
from incidents.models import AlertNotification
from incidents.models import Incident
from django.db.models import Count
import json
print(json.dumps({"incidents": Incident.objects.count(),
                  **dict(AlertNotification.objects.values_list("outcome").annotate(n=Count("id")))}))
"""


def _shell(env: dict, code: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return out.stdout.strip()


STARTS = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()


def _body(group: int, alert: int, *, prefix: str) -> bytes:
    starts = STARTS  # Alertmanager repeats an alert with the start time it first fired at
    labels = {"alertname": f"RefusalRateHigh{group}", "feature": "support-assistant", "instance": f"gw-{alert}"}
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{prefix}{{}}:{{alertname="RefusalRateHigh{group}"}}',
            "status": "firing",
            "receiver": "rewind",
            "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": labels,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.bench:9093",
            "alerts": [
                {
                    "status": "firing",
                    "labels": labels,
                    "annotations": {"summary": "Refusal rate above 20 %"},
                    "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.bench:9090/graph",
                    "fingerprint": f"{prefix}{group:03d}{alert:02d}",
                }
            ],
        }
    ).encode()


def _send_all(base: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

    def send(client: httpx.Client, body: bytes) -> float:
        started = time.perf_counter()
        response = client.post(f"{base}/hooks/alertmanager/bench", content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"hook answered {response.status_code}: {response.text[:300]}")
        return (time.perf_counter() - started) * 1000

    clients = [httpx.Client(timeout=30) for _ in range(CONCURRENCY)]
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            latencies = list(pool.map(lambda ib: send(clients[ib[0] % CONCURRENCY], ib[1]), enumerate(bodies)))
        return time.perf_counter() - started, latencies
    finally:
        for c in clients:
            c.close()


def run() -> dict:
    env = {
        "DATABASE_URL": bench_database("alerts"),
        "REDIS_URL": redis_url(),
        "CELERY_QUEUE": f"rewind-bench-{os.getpid()}",
    }
    seeded = seed(env)
    _shell(env, SETUP.format(env=seeded["env"], secret=SECRET))
    port = free_port()
    server = gunicorn(port, workers=2, env=env)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    metrics: dict = {}
    try:
        _send_all(base, [_body(999, 0, prefix="warmup")] * 20)
        storm = [_body(g, rng.randrange(5), prefix="s") for g in range(GROUPS) for _ in range(NOTIFICATIONS // GROUPS)]
        rng.shuffle(storm)
        seconds, latencies = _send_all(base, storm)
        metrics.update(
            {
                "storm: notifications": len(storm),
                "storm: notifications/s": round(len(storm) / seconds, 1),
                "storm: p50 ms": round(percentile(latencies, 50), 1),
                "storm: p95 ms": round(percentile(latencies, 95), 1),
            }
        )
        one = [_body(0, rng.randrange(5), prefix="one") for _ in range(NOTIFICATIONS)]
        seconds, latencies = _send_all(base, one)
        metrics.update(
            {
                "one cause: notifications": len(one),
                "one cause: notifications/s": round(len(one) / seconds, 1),
                "one cause: p50 ms": round(percentile(latencies, 50), 1),
                "one cause: p95 ms": round(percentile(latencies, 95), 1),
            }
        )
    finally:
        server.stop()
    counts = json.loads(_shell(env, COUNTS).splitlines()[-1])
    metrics.update(
        {
            "incidents opened": counts["incidents"],
            "notifications opened": counts.get("opened", 0),
            "notifications de-duplicated": counts.get("deduplicated", 0),
        }
    )
    expected_incidents = 1 + GROUPS + 1  # warm-up group, the storm's groups, the single cause
    rate = min(metrics["storm: notifications/s"], metrics["one cause: notifications/s"])
    return {
        "name": "alert_intake",
        "target": f">= {TARGET_PER_S} notifications/s with de-duplication; exactly one incident per alert group",
        "ok": rate >= TARGET_PER_S and counts["incidents"] == expected_incidents,
        "metrics": metrics,
        "notes": (
            f"gunicorn 2 workers, {CONCURRENCY} concurrent senders, PostgreSQL; each notification one Alertmanager v4 "
            f"body with one alert; expected incidents {expected_incidents}."
        ),
    }
