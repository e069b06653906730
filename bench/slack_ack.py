"""Slack acknowledgement latency: gunicorn on 127.0.0.1 serving the app, 20 concurrent signed slash commands
(`/incident`, which opens the modal with views.open inside the request, and `/rollback <feature>`, which
checks the caller and the syntax and enqueues the plan for a worker), measured from sending the request to the full response. Slack gives up after 3 s; target p99 < 300 ms.

Uses its own PostgreSQL database (rewind_bench_slack) and a local fake Slack Web API (tests/slackbot/fake_slack).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._stats import percentile

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "rewind_bench_slack"
DB_URL = os.environ.get("BENCH_SLACK_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
SECRET = "bench-signing-secret"
QUEUE = "bench-slack-ack"
CONCURRENCY = 20
ROUNDS = int(os.environ.get("BENCH_SLACK_ROUNDS", "15"))
# One process per core; threads cover the wait on Slack's views.open inside /incident.
WORKERS = int(os.environ.get("BENCH_SLACK_GUNICORN_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_SLACK_GUNICORN_THREADS", "10"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare_database(env: dict) -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME], check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def _seed() -> None:
    from core.models import Role, User
    from tests.slackbot.world import feature_with_two_releases

    for i in range(CONCURRENCY):
        User.objects.create_user(
            username=f"bench{i}", email=f"bench{i}@example.com", role=Role.APPROVER, slack_user_id=f"UBENCH{i:03d}"
        )
    feature_with_two_releases(User.objects.get(username="bench0"))


def _send(base: str, command: str, text: str, user: str) -> float:
    from tests.slackbot.signing import command_body, signature

    body = command_body(command, text, user_id=user, fake_url="http://127.0.0.1:9")
    ts = str(int(time.time()))
    request = urllib.request.Request(
        f"{base}/slack/commands",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(body, ts, SECRET),
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{command} {text!r} answered {response.status}")
    return (time.perf_counter() - started) * 1000


def _fake_slack() -> tuple[subprocess.Popen, str]:
    """The fake Slack Web API in its own process, so it does not share the load generator's GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.slackbot.fake_slack"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    return proc, proc.stdout.readline().strip()


def run() -> dict:
    sys.path.insert(0, str(ROOT))
    fake, fake_url = _fake_slack()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        # /rollback enqueues the plan; a queue of its own, emptied afterwards (no worker drains it here).
        "REDIS_URL": os.environ.get("BENCH_SLACK_REDIS_URL", "redis://127.0.0.1:6379/6"),
        "CELERY_QUEUE": QUEUE,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_BASE_URL": f"{fake_url}/api/",
        "SLACK_ANNOUNCE_CHANNEL": "CANNOUNCE",
        "LOG_LEVEL": "WARNING",
    }
    _prepare_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SLACK_SIGNING_SECRET", "SLACK_API_BASE_URL", "REDIS_URL")})
    from bench._django import django_setup

    django_setup()
    _seed()
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        jobs = [("/incident", ""), ("/rollback", "support-assistant")]
        # Warm every worker's connections and imports before measuring.
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda i: _send(base, *jobs[i % 2], f"UBENCH{i % CONCURRENCY:03d}"), range(CONCURRENCY * 2)))
        latencies: dict[str, list[float]] = {"/incident": [], "/rollback": []}
        wall = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            for _ in range(ROUNDS):
                for command, text in jobs:
                    results = pool.map(
                        lambda i, c=command, t=text: _send(base, c, t, f"UBENCH{i:03d}"), range(CONCURRENCY)
                    )
                    latencies[command].extend(results)
        wall = time.perf_counter() - wall
        with urllib.request.urlopen(f"{fake_url}/api/_counts", timeout=5) as response:
            opened = json.loads(response.read())["counts"].get("views.open", 0)
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=15)
        fake.terminate()
        fake.wait(timeout=5)
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).delete(QUEUE)
    everything = latencies["/incident"] + latencies["/rollback"]
    p99 = percentile(everything, 99)
    return {
        "name": "slack_ack",
        "target": "p99 < 300 ms",
        "metrics": {
            "requests": len(everything),
            "incident_p50_ms": round(statistics.median(latencies["/incident"]), 1),
            "incident_p99_ms": round(percentile(latencies["/incident"], 99), 1),
            "rollback_p50_ms": round(statistics.median(latencies["/rollback"]), 1),
            "rollback_p99_ms": round(percentile(latencies["/rollback"], 99), 1),
            "all_p99_ms": round(p99, 1),
            "max_ms": round(max(everything), 1),
            "views_open_calls": opened,
            "wall_s": round(wall, 2),
        },
        "ok": p99 < 300 and opened >= len(latencies["/incident"]),
        "notes": f"gunicorn -w {WORKERS} --threads {THREADS}; {CONCURRENCY} concurrent; {ROUNDS} rounds per command",
    }
