"""Arena-Hard through the Django path: prompt-set import and two output files over the API, then the worker's
service (``report_run``) in-process. Times each stage; ok when the report succeeds.

Data: /work/shared/data/arena-hard (or REWIND_ARENA_DIR): 500 prompts with a ``cluster`` each, answers of
gpt-4-0314 (A) and gpt-4-0613 (B). Own PostgreSQL database rewind_bench_report_arena unless DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

DB = "rewind_bench_report_arena"
ARENA = Path(os.environ.get("REWIND_ARENA_DIR", "/work/shared/data/arena-hard"))


def _database() -> None:
    if "DATABASE_URL" in os.environ:
        return
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], capture_output=True, check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], capture_output=True, check=False)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _files() -> tuple[bytes, bytes, bytes]:
    questions = [json.loads(line) for line in (ARENA / "question.jsonl").open(encoding="utf-8")]
    cases = _jsonl({"case_id": q["uid"], "input": q["prompt"], "cluster": q["cluster"]} for q in questions)
    sides = []
    for model in ("gpt-4-0314", "gpt-4-0613"):
        records = (json.loads(line) for line in (ARENA / f"{model}.jsonl").open(encoding="utf-8"))
        sides.append(_jsonl({"case_id": r["uid"], "output": r["messages"][1]["content"]["answer"]} for r in records))
    return cases, sides[0], sides[1]


def run() -> dict:
    _database()
    from bench._django import django_setup

    django_setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from core.models import Role, Team, User
    from diagnostics.models import BehaviourReport
    from diagnostics.reports.runner import report_run
    from rollouts.models import Feature
    from rollouts.registry import services as rs

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench-responder", role=Role.RESPONDER)
    team = Team.objects.create(slug="bench", name="Bench")
    feature = Feature.objects.create(slug="arena", name="Arena-Hard", team=team)
    prompt, _ = rs.prompt_version_register(actor=user, name="arena")
    releases = []
    for snapshot in ("gpt-4-0314", "gpt-4-0613"):
        model, _ = rs.model_version_register(
            actor=user, provider="openai", requested_alias="gpt-4", resolved_snapshot=snapshot
        )
        releases.append(rs.release_create(actor=user, feature=feature, model=model, prompt=prompt)[0])
    cases, outputs_a, outputs_b = _files()
    client = APIClient()
    client.force_authenticate(user)

    started = time.perf_counter()
    response = client.post(
        "/api/v1/prompt-sets/import/",
        {"name": "arena-hard-v0-1", "file": SimpleUploadedFile("question.jsonl", cases)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    import_s = time.perf_counter() - started
    version_id = response.json()["id"]

    started = time.perf_counter()
    response = client.post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version_id,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "title": "Arena-Hard: gpt-4-0314 vs gpt-4-0613",
            "outputs_a": SimpleUploadedFile("gpt-4-0314.jsonl", outputs_a),
            "outputs_b": SimpleUploadedFile("gpt-4-0613.jsonl", outputs_b),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    request_s = time.perf_counter() - started
    report_id = response.json()["id"]

    started = time.perf_counter()
    report_run(report_id=report_id)  # what the worker's task calls
    run_s = time.perf_counter() - started
    report = BehaviourReport.objects.get(pk=report_id)
    flagged = sorted(
        {m["name"] for m in report.result["metrics"] if m["verdict"] in ("regression", "improvement", "changed")}
        if report.result
        else []
    )
    return {
        "name": "report_arena",
        "target": "report succeeds through API + worker service",
        "metrics": {
            "cases": report.result["n_cases"] if report.result else 0,
            "upload_mb": round((len(cases) + len(outputs_a) + len(outputs_b)) / 1e6, 2),
            "prompt_set_import_s": round(import_s, 2),
            "report_request_s": round(request_s, 2),
            "report_run_s": round(run_s, 2),
            "verdict": report.verdict or report.status,
        },
        "ok": report.status == "succeeded",
        "notes": f"{report.status}; metrics that moved: {', '.join(flagged)}; {report.error[:200]}",
    }
