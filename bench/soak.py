"""Soak: the embedded default (what `make run` starts) under a steady stream of work, for a long time.

Starts exactly make run's setup in a fresh directory: SQLite, the SQLite-file broker, `manage.py run_worker`
(one Celery worker with beat, restarted when it dies) and `manage.py runserver` on a loopback port, with demo
data. Then, for BENCH_SOAK_SECONDS (default 3600), it keeps sending through the API:
- a staged rollout on the demo staging environment (weight 50 %, pause 1 s, 100 %) every 30 s, alternating
  between the two newest releases, waiting for the previous one to end first;
- a behaviour-diff report from uploaded outputs every 60 s;
- incident traffic every 3 s: open an incident, add a note, an action item, then resolve it.
At the end it stops sending and gives the worker up to 180 s to drain, then counts:
- worker crashes: the supervisor's "WORKER DIED" lines plus CRITICAL lines in the worker log;
- tasks lost: outbox rows never done, reports not finished, rollout runs not ended;
- server errors: HTTP 5xx answers.

Run: `.venv/bin/python -m bench soak` (BENCH_SOAK_SECONDS=600 for ten minutes). Needs no server.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench._live import ROOT, Process, free_port

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "3600"))
DRAIN_SECONDS = 180.0
TERMINAL_RUN = {"succeeded", "aborted", "failed", "rolled_back"}
TERMINAL_REPORT = {"succeeded", "failed", "cancelled"}


def _manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def _shell(env: dict, code: str) -> dict:
    return json.loads(_manage(env, "shell", "-v0", "-c", code).strip().splitlines()[-1])


WORLD = """
import json
from rest_framework.authtoken.models import Token
from core.models import User
from diagnostics.models import PromptSetVersion
from rollouts.models import Environment, Release
user = User.objects.get(username="demo")
token, _ = Token.objects.get_or_create(user=user)
env = Environment.objects.get(feature__slug="support-assistant", name="staging")
releases = list(Release.objects.filter(feature=env.feature).order_by("-number").values_list("pk", flat=True)[:2])
version = PromptSetVersion.objects.order_by("-pk").first()
cases = list(version.cases.values_list("case_id", flat=True))
print(json.dumps({"token": token.key, "env": env.pk, "releases": releases, "version": version.pk, "cases": cases}))
"""

COUNT = """
import json
from core.models import OutboxTask
from diagnostics.models import BehaviourReport
from rollouts.models import RolloutRun
print(json.dumps({
    "outbox_total": OutboxTask.objects.count(),
    "outbox_not_done": OutboxTask.objects.filter(done_at__isnull=True).count(),
    "outbox_redispatched": OutboxTask.objects.filter(dispatch_attempts__gt=1).count(),
    "reports": dict((s, BehaviourReport.objects.filter(status=s).count()) for s in
                    set(BehaviourReport.objects.values_list("status", flat=True))),
    "runs": dict((s, RolloutRun.objects.filter(state=s).count()) for s in
                 set(RolloutRun.objects.values_list("state", flat=True))),
}))
"""


class Soak:
    def __init__(self, base: str, world: dict):
        self.world = world
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Token {world['token']}"}, timeout=60)
        self.counts = {"requests": 0, "server_errors": 0, "refused_4xx": 0, "rollouts": 0, "reports": 0, "incidents": 0}
        self.errors: list[str] = []
        self.run_ids: list[int] = []
        self.report_ids: list[int] = []
        self.turn = 0

    def call(self, method: str, path: str, **kwargs) -> httpx.Response | None:
        self.counts["requests"] += 1
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.counts["server_errors"] += 1
            self.errors.append(f"{method} {path}: {exc}")
            return None
        if response.status_code >= 500:
            self.counts["server_errors"] += 1
            self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            self.counts["refused_4xx"] += 1
            self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    def rollout(self) -> None:
        if self.run_ids:
            last = self.call("GET", f"/api/v1/runs/{self.run_ids[-1]}/")
            if last is None or last.json().get("state") not in TERMINAL_RUN:
                return  # one run per environment at a time: wait for the previous one
        self.turn += 1
        candidate = self.world["releases"][self.turn % 2]
        response = self.call(
            "POST",
            "/api/v1/runs/",
            json={
                "environment": self.world["env"],
                "candidate_release": candidate,
                "steps": [
                    {"type": "weight", "weight": 50},
                    {"type": "pause", "seconds": 1},
                    {"type": "weight", "weight": 100},
                ],
                "reason": f"soak {self.turn}",
            },
        )
        if response is not None and response.status_code == 201:
            self.run_ids.append(response.json()["id"])
            self.counts["rollouts"] += 1

    def report(self) -> None:
        a, b = self.world["releases"][1], self.world["releases"][0]
        outputs = {
            side: "".join(
                json.dumps({"case_id": c, "output": f"answer {side} {c} {random.random():.3f}", "latency_ms": 800})
                + "\n"
                for c in self.world["cases"]
            )
            for side in ("a", "b")
        }
        response = self.call(
            "POST",
            "/api/v1/reports/",
            data={"prompt_set_version": self.world["version"], "release_a": a, "release_b": b, "title": "soak"},
            files={"outputs_a": ("a.jsonl", outputs["a"]), "outputs_b": ("b.jsonl", outputs["b"])},
        )
        if response is not None and response.status_code == 201:
            self.report_ids.append(response.json()["id"])
            self.counts["reports"] += 1

    def incident(self) -> None:
        response = self.call(
            "POST",
            "/api/v1/incidents/",
            json={
                "title": f"soak incident {self.counts['incidents']}",
                "severity": "sev3",
                "summary": "soak",
                "feature_environments": ["support-assistant/staging"],
            },
        )
        if response is None or response.status_code != 201:
            return
        self.counts["incidents"] += 1
        pk = response.json()["id"]
        self.call("POST", f"/api/v1/incidents/{pk}/notes/", json={"text": "looking"})
        self.call(
            "POST",
            "/api/v1/action-items/",
            json={
                "incident": pk,
                "title": "add an alert",
                "owner": "demo",
                "layer": "product",
                "due_date": (datetime.now(UTC).date() + timedelta(days=7)).isoformat(),
            },
        )
        self.call("POST", f"/api/v1/incidents/{pk}/transition/", json={"to_status": "investigating"})


def run() -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="rewind-soak-"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE")},
        "DEBUG": "1",
        "REWIND_VAR_DIR": str(workdir),
    }
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "demo_data")
    world = _shell(env, WORLD)
    supervisor = Process(
        [sys.executable, "manage.py", "run_worker", "--log", str(workdir / "worker.log")], env, "soak-supervisor"
    )
    port = free_port()
    web = Process([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], env, "soak-web")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.5)
    soak = Soak(base, world)
    health_503 = 0
    started = time.monotonic()
    next_at = {"rollout": started, "report": started + 5, "incident": started + 1, "health": started + 60}
    try:
        while time.monotonic() - started < SECONDS:
            now = time.monotonic()
            if now >= next_at["rollout"]:
                soak.rollout()
                next_at["rollout"] = now + 30
            if now >= next_at["report"]:
                soak.report()
                next_at["report"] = now + 60
            if now >= next_at["incident"]:
                soak.incident()
                next_at["incident"] = now + 3
            if now >= next_at["health"]:
                answer = soak.call("GET", "/healthz")
                health_503 += answer is not None and answer.status_code == 503
                next_at["health"] = now + 60
            time.sleep(0.2)
        soaked = time.monotonic() - started
        drain_deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            counts = _shell(env, COUNT)
            pending_reports = sum(n for s, n in counts["reports"].items() if s not in TERMINAL_REPORT)
            pending_runs = sum(n for s, n in counts["runs"].items() if s not in TERMINAL_RUN)
            if (counts["outbox_not_done"] == 0 and not pending_reports and not pending_runs) or (
                time.monotonic() > drain_deadline
            ):
                break
            time.sleep(5)
    finally:
        web.stop()
        supervisor.stop()
    supervisor_out = supervisor.log.read_text(errors="replace")
    worker_log = (workdir / "worker.log").read_text(errors="replace")
    crashes = supervisor_out.count("WORKER DIED") + worker_log.count("CRITICAL")
    lost = counts["outbox_not_done"] + pending_reports + pending_runs
    (workdir / "soak-errors.txt").write_text("\n".join(soak.errors))
    return {
        "name": "soak",
        "target": "embedded default, 60 min: worker crashes 0, tasks lost 0",
        "ok": crashes == 0 and lost == 0 and soak.counts["server_errors"] == 0,
        "metrics": {
            "soak_seconds": round(soaked, 1),
            "worker_crashes": crashes,
            "tasks_lost": lost,
            "server_errors_5xx": soak.counts["server_errors"],
            "refused_4xx": soak.counts["refused_4xx"],
            "healthz_503": health_503,
            "requests": soak.counts["requests"],
            "rollouts_started": soak.counts["rollouts"],
            "reports_requested": soak.counts["reports"],
            "incidents_opened": soak.counts["incidents"],
            "outbox_tasks": counts["outbox_total"],
            "outbox_redispatched": counts["outbox_redispatched"],
            "broker_file_bytes": sum(f.stat().st_size for f in workdir.glob("broker.sqlite3*")),
        },
        "notes": {
            "runs": counts["runs"],
            "reports": counts["reports"],
            "workdir": str(workdir),
            "first_errors": soak.errors[:10],
        },
    }
