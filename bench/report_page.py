"""Behaviour-diff report page: server-side time of GET /reports/<id>/ for a stored report over 100k cases.

The result is computed once by the real engine on 100k synthetic answer pairs (40 clusters x 5 locales as
segments), stored like the worker stores it (full result + page summary), then the page is requested through
Django's test client (in-process: view, queries, template; no network) 40 times after 3 warm-ups.
Uses its own PostgreSQL database (rewind_bench_report_page, recreated each run) unless DATABASE_URL is set.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time

N_CASES = 100_000
TARGET_MS = 300.0
RUNS = 40
DB = "rewind_bench_report_page"


def _database() -> None:
    if "DATABASE_URL" in os.environ:
        return
    # Recreated each run: the schema follows the code, and the engine's current output is what gets rendered.
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], capture_output=True, check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], capture_output=True, check=False)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"


def _frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    ids = np.arange(N_CASES)
    clusters = rng.integers(0, 40, N_CASES)
    locales = np.array(["en", "de", "fr", "es", "ja"])[rng.integers(0, 5, N_CASES)]
    words = rng.integers(20, 120, N_CASES)
    base = [f"Answer {i}: " + " ".join(["step"] * int(w)) for i, w in zip(ids, words, strict=True)]
    refuse = (clusters == 7) & (rng.random(N_CASES) < 0.3)
    b = [
        "I'm sorry, but I can't help with that." if r else (t + " Hope this helps!" if i % 4 == 0 else t)
        for i, (t, r) in enumerate(zip(base, refuse, strict=True))
    ]
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in ids],
            "sample": 0,
            "output_a": base,
            "output_b": b,
            "latency_a": rng.normal(800, 120, N_CASES),
            "latency_b": rng.normal(820, 120, N_CASES),
            "cluster": [f"cluster-{c:02d}" for c in clusters],
            "locale": locales,
        }
    )


def _stored_report():
    from django.core.management import call_command

    from core.actors import system_actor
    from core.models import Role, Team, User
    from diagnostics.behaviour.engine import AnalysisOptions, analyse
    from diagnostics.models import BehaviourReport, PromptSet, PromptSetVersion, ReportStatus
    from diagnostics.reports.runner import summarise
    from rollouts.models import Feature
    from rollouts.registry import services as rs

    call_command("migrate", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"role": Role.VIEWER})
    existing = BehaviourReport.objects.filter(title="bench: 100k cases", status=ReportStatus.SUCCEEDED).first()
    if existing:
        return existing, user, None
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    feature, _ = Feature.objects.get_or_create(slug="bench-feature", defaults={"name": "Bench", "team": team})
    seeder = system_actor("benchmark seed")
    prompt, _ = rs.prompt_version_register(actor=seeder, name="bench")
    releases = []
    for snapshot in ("m-1", "m-2"):
        model, _ = rs.model_version_register(
            actor=seeder, provider="p", requested_alias="m", resolved_snapshot=snapshot
        )
        releases.append(rs.release_create(actor=seeder, feature=feature, model=model, prompt=prompt)[0])
    prompt_set, _ = PromptSet.objects.get_or_create(name="bench-100k")
    version = PromptSetVersion.objects.create(
        prompt_set=prompt_set, number=1, case_count=N_CASES, segment_fields=["cluster", "locale"]
    )
    started = time.perf_counter()
    result = analyse(_frame(), AnalysisOptions(segment_fields=["cluster", "locale"], bootstrap=1000))
    analysis_s = time.perf_counter() - started
    report = BehaviourReport.objects.create(
        title="bench: 100k cases",
        release_a=releases[0],
        release_b=releases[1],
        prompt_set_version=version,
        status=ReportStatus.SUCCEEDED,
        progress=1.0,
        verdict=result["verdict"],
        result=result,
        summary=summarise(result),
    )
    return report, user, analysis_s


def run() -> dict:
    _database()
    from bench._django import django_setup

    django_setup()
    import json

    from django.test import Client

    report, user, analysis_s = _stored_report()
    client = Client()
    client.force_login(user)
    url = f"/reports/{report.pk}/"
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    fragment = []
    for _ in range(10):
        started = time.perf_counter()
        client.get(url + "?segment=cluster%3Dcluster-07", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="segment-view")
        fragment.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))]
    metrics = {
        "cases": report.summary["n_cases"],
        "segment_cells": len(report.summary["segments"]),
        "result_json_kb": round(len(json.dumps(report.result)) / 1024, 1),
        "page_kb": round(len(response.content) / 1024, 1),
        "page_median_ms": round(statistics.median(timings), 1),
        "page_p95_ms": round(p95, 1),
        "segment_fragment_median_ms": round(statistics.median(fragment), 1),
    }
    if analysis_s is not None:
        metrics["engine_analysis_s"] = round(analysis_s, 1)
    return {
        "name": "report_page",
        "target": f"p95 < {TARGET_MS:.0f} ms",
        "metrics": metrics,
        "ok": p95 < TARGET_MS,
        "notes": f"verdict {report.verdict}; {RUNS} GETs after 3 warm-ups, in-process test client",
    }
