"""Deterministic synthetic answer pairs for the behaviour-diff benchmark and the engine's report tests.

Answers are 1-2 KB of prose built from sentence pools, 15 % with markdown structure, ~5 % JSON (bare or fenced,
one in ten broken on side B), 2 % refusals both sides share and 10 % new refusals on side B in segment ``s3``;
ten segments; side B rewrites ~20 % of the sentences of side A. ``write_files`` writes the same pairs as two
answer files (JSONL or CSV) in blocks, so a million pairs never sit in memory at once.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

_VOCABULARY = (
    "the model returns a value when request data is processed by each service layer and we should consider "
    "using a cache for performance because latency matters in production systems with many users it might be "
    "better to configure retries timeouts and limits carefully so that errors surface early clearly"
)
_WORDS = _VOCABULARY.split()
_BLOCK = 20_000


def pairs(n: int, seed: int = 0, start: int = 0) -> dict[str, list]:
    """Columns of ``n`` pairs (case numbers ``start``..): output_a, output_b, segment, latency_a, latency_b.

    The pool of sentences depends on ``seed`` only, the answers on ``seed`` and ``start``, so blocks written one
    after another are reproducible."""
    pool_rng = np.random.default_rng(seed)
    pool = np.array(
        [" ".join(pool_rng.choice(_WORDS, pool_rng.integers(8, 25))).capitalize() + ". " for _ in range(600)],
        dtype=object,
    )
    rng = np.random.default_rng([seed, start])
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
        body = json.dumps({"id": int(start + i), "summary": a[i][:900], "tags": ["x", "y"]})
        a[i] = body if i % 2 else f"Here you go:\n```json\n{body}\n```\n"
        b[i] = body[:-3] if i % 10 == 0 else a[i]
    for i in np.flatnonzero(rng.random(n) < 0.02):  # refusals both releases share
        a[i] = b[i] = "I'm sorry, but I can't help with that request. " + a[i][:200]
    for i in np.flatnonzero((segment == 3) & (rng.random(n) < 0.10)):
        b[i] = "I'm sorry, but I can't help with that request. " + b[i][:200]
    return {
        "output_a": a,
        "output_b": b,
        "segment": [f"s{s}" for s in segment],
        "latency_a": rng.gamma(4.0, 250.0, size=n).tolist(),
        "latency_b": rng.gamma(4.0, 260.0, size=n).tolist(),
    }


def frame(n: int, seed: int = 0, samples: int = 1):
    """The engine's frame: ``n`` rows, case_id 0.. (``samples`` rows per case, numbered 0..samples-1)."""
    import pandas as pd

    columns = pairs(n, seed)
    return pd.DataFrame(
        {"case_id": np.arange(n) // samples, "sample": np.arange(n) % samples, **columns},
    )


def write_files(directory: str | Path, n: int, *, seed: int = 0, layout: str = "jsonl") -> tuple[Path, Path]:
    """Side A and side B answer files of ``n`` pairs: JSONL keyed by ``id``, or CSV paired by ``instruction``.

    Side B lists its answers in another order (blocks reversed), as a second run of an eval would."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / f"a.{layout}", directory / f"b.{layout}")
    blocks = []  # side B's blocks, written apart and joined in reverse order
    with paths[0].open("w", encoding="utf-8", newline="") as out_a:
        if layout == "csv":
            csv.writer(out_a).writerow(_CSV_HEADER)
        for start in range(0, n, _BLOCK):
            block = pairs(min(_BLOCK, n - start), seed, start)
            blocks.append(directory / f".b-{start}.part")
            with blocks[-1].open("w", encoding="utf-8", newline="") as out_b:
                for side, out in ((0, out_a), (1, out_b)):
                    texts = block["output_a" if side == 0 else "output_b"]
                    _write(out, layout, start, texts, block["segment"], "model-a" if side == 0 else "model-b")
    with paths[1].open("wb") as out_b:
        if layout == "csv":
            out_b.write((",".join(_CSV_HEADER) + "\r\n").encode())
        for part in reversed(blocks):
            out_b.write(part.read_bytes())
            part.unlink()
    return paths


_CSV_HEADER = ["instruction", "output", "generator", "segment"]


def _write(out, layout: str, start: int, texts: list[str], segments: list[str], model: str) -> None:
    if layout == "csv":
        writer = csv.writer(out)
        for i, (text, segment) in enumerate(zip(texts, segments, strict=True)):
            case = start + i
            writer.writerow([f"Question {case}: how should service {case % 97} cache?", text, model, segment])
        return
    lines = [
        json.dumps(
            {
                "id": f"c{start + i}",
                "instruction": f"Question {start + i}",
                "output": text,
                "generator": model,
                "segment": segment,
            }
        )
        for i, (text, segment) in enumerate(zip(texts, segments, strict=True))
    ]
    out.write("\n".join(lines) + "\n")
