"""Refusal detection against XSTest's human labels, per model, and with one model family held out.

Data: the XSTest completions of five chat models (450 answers each; ``final_label`` full compliance, full refusal or
partial refusal; full and partial refusals count as refusals), from ``../shared/data/xstest`` beside the repository
or ``REWIND_XSTEST_DIR``. Each file is read with the quick-compare reader and measured with ``output_metrics``, the
code path of ``manage.py behaviour_metrics`` and of every report.

Held out: the grammar's rules name the model families whose answers they were written from. A family's held-out
figures use only the rules written without it (general rules and rules from the other two families), i.e. the
detector as it stood before that family's answers were looked at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = {  # file stem -> (family, shown name)
    "gpt4": ("gpt4", "GPT-4"),
    "llama2new": ("llama", "Llama-2-70b-chat, no system prompt"),
    "llama2orig": ("llama", "Llama-2-70b-chat, original system prompt"),
    "mistralguard": ("mistral", "Mistral-7B-Instruct with guardrail prompt"),
    "mistralinstruct": ("mistral", "Mistral-7B-Instruct"),
}
TARGET = 0.90


def data_dir() -> Path:
    if os.environ.get("REWIND_XSTEST_DIR"):
        return Path(os.environ["REWIND_XSTEST_DIR"])
    root = Path(__file__).resolve().parents[1]
    for base in (root.parent, root.parent.parent):
        if (base / "shared" / "data" / "xstest").is_dir():
            return base / "shared" / "data" / "xstest"
    return root.parent / "shared" / "data" / "xstest"


def _scores(predicted: np.ndarray, labelled: np.ndarray) -> dict:
    tp = int((predicted & labelled).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(labelled.sum()), 1)
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 3),
        "false_positives": int((predicted & ~labelled).sum()),
        "false_negatives": int((~predicted & labelled).sum()),
    }


def run() -> dict:
    from diagnostics.behaviour.answers import read_answers
    from diagnostics.behaviour.metrics import output_metrics
    from diagnostics.behaviour.refusal import Grammar, detect

    directory = data_dir()
    rows, metrics, seconds, answers = [], {}, 0.0, 0
    for stem, (family, shown) in MODELS.items():
        path = directory / f"completions_{stem}.csv"
        records = read_answers(path.read_bytes(), filename=path.name)
        labels = pd.read_csv(path)["final_label"].astype(str).to_numpy()
        labelled = labels != "1_full_compliance"
        texts = [r.text for r in records]
        started = time.perf_counter()
        measured = output_metrics(pd.Series(texts, dtype=object))
        seconds += time.perf_counter() - started
        answers += len(texts)
        predicted = measured["refusal"].to_numpy(dtype=bool)
        held_out = detect(texts, grammar=Grammar.default(leave_out=[family])).refusal
        kind = measured["refusal_kind"].to_numpy()
        partial_true = labels == "3_partial_refusal"
        row = {
            "model": shown,
            "family": family,
            "answers": len(texts),
            "refusals": int(labelled.sum()),
            "partial": int(partial_true.sum()),
            **_scores(predicted, labelled),
            "held_out": _scores(held_out, labelled),
            "partial_kind": _scores(kind == "partial", partial_true),
            "non_answer": int(measured["non_answer"].sum()),
            "disclaimer": int(measured["disclaimer"].sum()),
        }
        rows.append(row)
        metrics[f"{stem} precision"] = row["precision"]
        metrics[f"{stem} recall"] = row["recall"]
        metrics[f"{stem} held-out precision"] = row["held_out"]["precision"]
        metrics[f"{stem} held-out recall"] = row["held_out"]["recall"]
        metrics[f"{stem} partial-kind precision"] = row["partial_kind"]["precision"]
        metrics[f"{stem} partial-kind recall"] = row["partial_kind"]["recall"]
    metrics["answers per second"] = round(answers / seconds, 1)
    met = all(r["precision"] >= TARGET and r["recall"] >= TARGET for r in rows)
    _print_table(rows)
    return {
        "name": "refusal_quality",
        "target": f"precision and recall >= {TARGET} for every XSTest model",
        "ok": met,
        "metrics": metrics,
        "rows": rows,
        "notes": f"data {directory.name}/; held out = rules written from the other two families and general rules",
    }


def _print_table(rows: list[dict]) -> None:
    print(f"{'model':<44} {'P':>6} {'R':>6}   {'held-out P':>10} {'held-out R':>10}   {'partial P/R':>11}")
    for r in rows:
        h, k = r["held_out"], r["partial_kind"]
        print(
            f"{r['model']:<44} {r['precision']:>6.3f} {r['recall']:>6.3f}   {h['precision']:>10.3f} "
            f"{h['recall']:>10.3f}   {k['precision']:>5.2f}/{k['recall']:<5.2f}"
        )
