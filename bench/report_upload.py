"""100k cases through the upload path: prompt-set import, output upload (validate, pair, store), and the worker's
chunked frame build from the Output table. Peak RSS of this process is reported (files stream from temp files).

Own PostgreSQL database rewind_bench_report_upload (recreated) unless DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time

N = 100_000
DB = "rewind_bench_report_upload"


def _database() -> None:
    if "DATABASE_URL" in os.environ:
        return
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB], capture_output=True, check=False)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], capture_output=True, check=False)
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"


def _write(path: str, rows) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return os.path.getsize(path)


def run() -> dict:
    _database()
    from bench._django import django_setup

    django_setup()
    from django.core.files.uploadedfile import TemporaryUploadedFile
    from django.core.management import call_command

    from core.models import Role, Team, User
    from diagnostics.reports import services
    from diagnostics.reports.runner import report_frame
    from rollouts.models import Feature
    from rollouts.registry import services as rs

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench-responder", role=Role.RESPONDER)
    feature = Feature.objects.create(slug="bench", name="Bench", team=Team.objects.create(slug="b", name="B"))
    prompt, _ = rs.prompt_version_register(actor=user, name="bench")
    releases = []
    for snapshot in ("m-1", "m-2"):
        model, _ = rs.model_version_register(actor=user, provider="p", requested_alias="m", resolved_snapshot=snapshot)
        releases.append(rs.release_create(actor=user, feature=feature, model=model, prompt=prompt)[0])

    workdir = tempfile.mkdtemp(prefix="rewind-bench-")
    answer = "Open Settings, choose Security and follow the link we email you. " * 8  # ~530 characters
    sizes = {
        "cases": _write(
            f"{workdir}/cases.jsonl",
            ({"case_id": f"c{i}", "input": f"question {i}?", "locale": ("en", "de", "fr")[i % 3]} for i in range(N)),
        ),
        "a": _write(
            f"{workdir}/a.jsonl", ({"case_id": f"c{i}", "output": answer, "latency_ms": 800} for i in range(N))
        ),
        "b": _write(
            f"{workdir}/b.jsonl", ({"case_id": f"c{i}", "output": answer[::-1], "latency_ms": 810} for i in range(N))
        ),
    }

    def uploaded(name: str):
        # What Django hands a view for a large multipart file: a temporary file on disk.
        upload = TemporaryUploadedFile(name, "application/octet-stream", sizes[name.split(".")[0]], "utf-8")
        with open(f"{workdir}/{name}", "rb") as src:
            while chunk := src.read(1 << 20):
                upload.write(chunk)
        upload.seek(0)
        return upload

    started = time.perf_counter()
    version = services.prompt_set_import(
        actor=user, name="bench-100k", file=uploaded("cases.jsonl"), filename="c.jsonl"
    )
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    report = services.report_request(
        actor=user,
        prompt_set_version=version,
        release_a=releases[0],
        release_b=releases[1],
        outputs_a=services.OutputFile(uploaded("a.jsonl"), "a.jsonl"),
        outputs_b=services.OutputFile(uploaded("b.jsonl"), "b.jsonl"),
        enqueue=False,
    )
    request_s = time.perf_counter() - started
    started = time.perf_counter()
    frame = report_frame(report)
    frame_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": "report_upload",
        "target": "100k pairs stored and read back without loading files whole",
        "metrics": {
            "cases": len(frame),
            "files_mb": round(sum(sizes.values()) / 1e6, 1),
            "prompt_set_import_s": round(import_s, 1),
            "report_request_s": round(request_s, 1),
            "frame_build_s": round(frame_s, 1),
            "peak_rss_mb": round(peak_mb),
        },
        "ok": len(frame) == N,
        "notes": f"load average {os.getloadavg()[0]:.1f}",
    }
