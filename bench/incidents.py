"""Incident list at BENCH_INCIDENTS incidents (100k by default; 300k and 1M are the other recorded rows) and 1M
timeline events on PostgreSQL (database rewind_bench_incidents_<N>).

Data is generated in SQL (generate_series) once and reused on later runs. Measures server time of the web list
(/incidents/, full page and htmx fragment), free-text search and the API list (/api/v1/incidents/) through Django's
test client, in process (no network), across pages and filters; asserts the query count does not grow with the page
or filter. After the warm-up the garbage collector is frozen (gc.freeze), so a gen-2 collection of the benchmarking
process's own objects does not land inside a timed request.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import time

from bench._stats import percentile

N_INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", 100_000))
DB_NAME = "rewind_bench_incidents" if N_INCIDENTS == 100_000 else f"rewind_bench_incidents_{N_INCIDENTS}"
N_EVENTS = int(os.environ.get("BENCH_TIMELINE_EVENTS", 1_000_000))
REPEATS = int(os.environ.get("BENCH_REPEATS", 20))
TARGET_P95_MS = 50.0


def _prepare_database() -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME], capture_output=True, check=False)


def _populate() -> dict:
    from django.core.management import call_command
    from django.db import connection

    from core.models import Role, Team, User
    from rollouts.models import Environment, Feature

    call_command("migrate", verbosity=0)
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"role": Role.VIEWER})
    commanders = [
        User.objects.get_or_create(username=f"cmd{i}", defaults={"role": Role.RESPONDER})[0] for i in range(10)
    ]
    features = []
    for i in range(8):
        feature, _ = Feature.objects.get_or_create(slug=f"bench-feature-{i}", defaults={"name": f"F{i}", "team": team})
        Environment.objects.get_or_create(feature=feature, name="production", defaults={"is_production": True})
        features.append(feature)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_incident")
        have = cur.fetchone()[0]
        if have < N_INCIDENTS:
            cmd_ids = "ARRAY[" + ",".join(str(c.pk) for c in commanders) + "]"
            cur.execute(
                f"""
                INSERT INTO incidents_incident (title, summary, severity, status, impact_started_at, detected_at,
                    source, slack_channel_id, created_at, updated_at, commander_id, reporter_id)
                SELECT 'Bench incident ' || g || (ARRAY[' answers worse',' JSON invalid',' latency spike',' refusals'])[1 + g % 4],
                       'Generated for the incident list benchmark, number ' || g,
                       (ARRAY['sev1','sev2','sev3','sev4'])[1 + g % 4],
                       (ARRAY['reported','investigating','identified','mitigating','monitoring','resolved','postmortem','closed','cancelled'])[1 + g % 9],
                       now() - (g || ' minutes')::interval - interval '1 hour',
                       now() - (g || ' minutes')::interval,
                       'web', '',
                       now() - (g || ' minutes')::interval,
                       now() - (g || ' minutes')::interval,
                       ({cmd_ids})[1 + g % 10], {user.pk}
                FROM generate_series({have + 1}, {N_INCIDENTS}) AS g
                """
            )
            feature_ids = "ARRAY[" + ",".join(str(f.pk) for f in features) + "]"
            cur.execute(
                f"""
                INSERT INTO incidents_incident_features (incident_id, feature_id)
                SELECT i.id, ({feature_ids})[1 + i.id % 8] FROM incidents_incident i
                WHERE NOT EXISTS (SELECT 1 FROM incidents_incident_features x WHERE x.incident_id = i.id)
                """
            )
        cur.execute("SELECT count(*) FROM incidents_timelineevent")
        have_events = cur.fetchone()[0]
        if have_events < N_EVENTS:
            cur.execute("SELECT min(id), max(id) FROM incidents_incident")
            lo, hi = cur.fetchone()
            cur.execute(
                f"""
                INSERT INTO incidents_timelineevent (incident_id, kind, text, data, source, external_ref, occurred_at,
                    created_at)
                SELECT {lo} + (g % ({hi} - {lo} + 1)),
                       (ARRAY['note','status','evidence','owner','verdict','action_item'])[1 + g % 6],
                       'Bench timeline event ' || g, '{{}}'::jsonb, 'web', '',
                       now() - (g || ' seconds')::interval, now()
                FROM generate_series({have_events + 1}, {N_EVENTS}) AS g
                """
            )
        # What autovacuum does in production: visibility map and statistics for the fresh rows.
        cur.execute("VACUUM ANALYZE incidents_incident")
        cur.execute("VACUUM ANALYZE incidents_incident_features")
        cur.execute("VACUUM ANALYZE incidents_timelineevent")
        cur.execute("SELECT count(*) FROM incidents_incident")
        incidents = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM incidents_timelineevent")
        events = cur.fetchone()[0]
    return {"user": user, "incidents": incidents, "events": events}


def _measure(client, url: str, headers: dict) -> tuple[list[float], list[int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], []
    client.get(url, **headers)  # warm caches and the connection
    for _ in range(REPEATS):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url, **headers)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(ctx.captured_queries))
    return times, queries


def p95(values: list[float]) -> float:
    return percentile(values, 95)


def run() -> dict:
    _prepare_database()
    from bench._django import django_setup

    django_setup()
    from django.test import Client
    from rest_framework.authtoken.models import Token

    data = _populate()
    client = Client()
    client.force_login(data["user"])
    token, _ = Token.objects.get_or_create(user=data["user"])
    web = {}
    htmx = {"HTTP_HX_REQUEST": "true"}
    api = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    from urllib.parse import quote

    from incidents.models import Incident
    from incidents.selectors import make_cursor

    ordered = Incident.objects.order_by("-created_at", "-id")
    page_200 = quote(make_cursor(ordered[200 * 25 - 1]))
    page_3000 = quote(make_cursor(ordered[3000 * 25 - 1]))
    api_next = client.get("/api/v1/incidents/?status=resolved&limit=50", **api).json()["next"]
    cases = {
        "web page 1": ("/incidents/", web),
        "web page 200 (cursor)": (f"/incidents/?before={page_200}", web),
        "web status filter (htmx)": ("/incidents/?status=investigating", htmx),
        "web severity+feature filter (htmx)": ("/incidents/?severity=sev4&feature=bench-feature-3", htmx),
        "web page 3000 (cursor, htmx)": (f"/incidents/?before={page_3000}", htmx),
        "api list": ("/api/v1/incidents/?limit=50", api),
        "api status filter, page 2": (api_next.replace("http://testserver", ""), api),
    }
    search = {
        "web search, common term (htmx)": ("/incidents/?q=latency", htmx),
        "web search, rare term (htmx)": (f"/incidents/?q=number+{data['incidents'] // 2}", htmx),
    }
    for url, headers in [*cases.values(), *search.values()]:
        client.get(url, **headers)
    gc.collect()
    gc.freeze()
    metrics: dict = {"incidents": data["incidents"], "timeline_events": data["events"]}
    all_times, query_counts = [], set()
    for name, (url, headers) in cases.items():
        times, queries = _measure(client, url, headers)
        metrics[f"{name} p95 ms"] = round(p95(times), 2)
        all_times += times
        query_counts.add(("api" if name.startswith("api") else "htmx" if "htmx" in name else "web", max(queries)))
    for name, (url, headers) in search.items():
        times, queries = _measure(client, url, headers)
        metrics[f"{name} p95 ms"] = round(p95(times), 2)
        all_times += times
        query_counts.add(("htmx", max(queries)))
    metrics["overall list p50 ms"] = round(statistics.median(all_times), 2)
    metrics["overall list p95 ms"] = round(p95(all_times), 2)
    constant = True
    for kind in ("web", "htmx", "api"):
        counts = sorted({q for k, q in query_counts if k == kind})
        metrics[f"{kind} queries per request"] = ",".join(map(str, counts))
        constant = constant and len(counts) == 1
    return {
        "name": "incidents",
        "target": f"every case p95 < {TARGET_P95_MS:.0f} ms, constant queries",
        "metrics": metrics,
        "ok": all(v < TARGET_P95_MS for k, v in metrics.items() if k.endswith("p95 ms")) and constant,
        "notes": f"{REPEATS} requests per case after one warm-up each, garbage collector frozen after warm-up, "
        "Django test client in process, DEBUG off; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
    }
