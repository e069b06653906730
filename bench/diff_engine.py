"""Behaviour-diff engine on 100k synthetic answer pairs: metrics, similarity and statistics end to end.

CPU seconds (all threads) are reported beside wall time: on the shared 2-core machine other jobs' load
stretches wall time, CPU time does not move with it. The analysis runs in a fresh subprocess so its peak RSS (ru_maxrss) is the engine's own plus the data, not
the runner's. Answers are 1-2 KB of prose built from sentence pools, some with markdown structure, ~5% JSON
(bare or fenced), a few refusals (more on side B in one segment), ten segments; side B rewrites ~20% of
sentences of side A.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

N_PAIRS = 100_000
TARGET_SECONDS = 20.0
TARGET_RSS_MB = 1536.0

_VOCABULARY = (
    "the model returns a value when request data is processed by each service layer and we should consider "
    "using a cache for performance because latency matters in production systems with many users it might be "
    "better to configure retries timeouts and limits carefully so that errors surface early clearly"
)
_WORDS = _VOCABULARY.split()


def build_frame(n: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pool = np.array(
        [" ".join(rng.choice(_WORDS, rng.integers(8, 25))).capitalize() + ". " for _ in range(600)], dtype=object
    )
    per_answer = rng.integers(9, 17, size=n)
    picks = rng.integers(0, len(pool), size=int(per_answer.sum()))
    rewrites = rng.random(picks.size) < 0.2
    picks_b = np.where(rewrites, rng.integers(0, len(pool), size=picks.size), picks)
    bounds = np.concatenate([[0], np.cumsum(per_answer)])
    a = ["".join(pool[picks[bounds[i] : bounds[i + 1]]]) for i in range(n)]
    b = ["".join(pool[picks_b[bounds[i] : bounds[i + 1]]]) for i in range(n)]
    segment = rng.integers(0, 10, size=n)
    for i in np.flatnonzero(rng.random(n) < 0.15):  # markdown structure
        a[i] = "## Answer\n\n- " + a[i][:400] + "\n- " + a[i][400:]
        b[i] = "## Answer\n\n1. " + b[i][:400] + "\n2. " + b[i][400:]
    for i in np.flatnonzero(rng.random(n) < 0.05):  # structured answers, one in ten broken on side B
        body = json.dumps({"id": int(i), "summary": a[i][:900], "tags": ["x", "y"]})
        a[i] = body if i % 2 else f"Here you go:\n```json\n{body}\n```\n"
        b[i] = body[:-3] if i % 10 == 0 else a[i]
    for i in np.flatnonzero(rng.random(n) < 0.02):  # refusals both releases share
        a[i] = b[i] = "I'm sorry, but I can't help with that request. " + a[i][:200]
    for i in np.flatnonzero((segment == 3) & (rng.random(n) < 0.10)):
        b[i] = "I'm sorry, but I can't help with that request. " + b[i][:200]
    return pd.DataFrame(
        {
            "case_id": np.arange(n),
            "sample": np.zeros(n, dtype=np.int64),
            "output_a": a,
            "output_b": b,
            "segment": [f"s{s}" for s in segment],
            "latency_a": rng.gamma(4.0, 250.0, size=n),
            "latency_b": rng.gamma(4.0, 260.0, size=n),
        }
    )


def _child(n: int) -> None:
    import resource

    from diagnostics.behaviour import AnalysisOptions, analyse

    started = time.perf_counter()
    frame = build_frame(n)
    built = time.perf_counter()
    cpu_before = time.process_time()
    report = analyse(frame, AnalysisOptions(segment_fields=["segment"]))
    done = time.perf_counter()
    cpu = time.process_time() - cpu_before
    encoded = json.dumps(report)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    average = sum(len(t) for t in frame["output_a"]) / n
    summary = {
        "build_s": built - started,
        "analyse_s": done - built,
        "analyse_cpu_s": cpu,
        "load_average_1m": os.getloadavg()[0],
        "peak_rss_mb": rss_mb,
        "avg_answer_chars": average,
        "report_kb": len(encoded) / 1024,
        "verdict": report["verdict"],
        "refusal_segments": [
            s["value"] for s in report["segments"] if s["metric"] == "refusal" and s["verdict"] == "regression"
        ],
    }
    print(json.dumps(summary))


def run(n: int = N_PAIRS) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", f"from bench.diff_engine import _child; _child({n})"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    ok = summary["analyse_s"] < TARGET_SECONDS and summary["peak_rss_mb"] < TARGET_RSS_MB
    return {
        "name": "diff_engine",
        "target": f"{n:,} pairs analysed < {TARGET_SECONDS:.0f} s, peak RSS < {TARGET_RSS_MB:.0f} MB",
        "metrics": {
            "pairs": n,
            "analyse_seconds": round(summary["analyse_s"], 2),
            "analyse_cpu_seconds": round(summary["analyse_cpu_s"], 2),
            "load_average_1m": round(summary["load_average_1m"], 1),
            "peak_rss_mb": round(summary["peak_rss_mb"], 1),
            "build_frame_seconds": round(summary["build_s"], 2),
            "avg_answer_chars": round(summary["avg_answer_chars"], 1),
            "report_kb": round(summary["report_kb"], 1),
        },
        "ok": ok,
        "notes": f"verdict={summary['verdict']}; refusal regression found in {summary['refusal_segments']}",
    }
