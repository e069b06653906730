"""Refusal detection against XSTest's human labels, per model, in-sample and with one model family held out.

Data: the XSTest completions of five chat models (450 answers each; ``final_label`` full compliance, full refusal or
partial refusal; full and partial refusals count as refusals), from ``../shared/data/xstest`` beside the repository
or ``REWIND_XSTEST_DIR``. Each file is read with the quick-compare reader and measured with ``output_metrics``, the
code path of ``manage.py behaviour_metrics`` and of every report.

In-sample: the shipped detector (grammar + classifier whose weights were fitted to all five models' answers).

Held out (families: gpt4; llama = both Llama-2 runs; mistral = both Mistral runs): for each family the benchmark
rebuilds the detector without it, in the same run: the grammar without every rule written from that family's
answers, and a classifier fitted to the other families' answers (and the project's own examples) only. The five models answered the same 450
prompts, so the classifier is also fitted without the prompts it is scored on: prompts are split into five folds
and each fold of the held-out family is scored by a classifier fitted to the other families' answers to the other
four folds. The classifier's settings (features, L2 strength, threshold) are constants of
``diagnostics/behaviour/refusal_model.py``, not chosen per family.
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


FOLDS = 5


def load(directory: Path) -> dict[str, tuple[list[str], np.ndarray, np.ndarray, np.ndarray]]:
    """Per model file stem: the answers (as the quick-compare reader reads them), the labels, the prompt ids."""
    from diagnostics.behaviour.answers import read_answers

    out = {}
    for stem in MODELS:
        path = directory / f"completions_{stem}.csv"
        records = read_answers(path.read_bytes(), filename=path.name)
        frame = pd.read_csv(path)
        out[stem] = ([r.text for r in records], frame["final_label"].astype(str).to_numpy(), frame["id"].to_numpy())
    return out


def _fold(ids: np.ndarray) -> np.ndarray:
    """A prompt's fold, from its id's number (the same prompt falls in the same fold for every model)."""
    return np.array([int(str(i).rsplit("-", 1)[-1]) % FOLDS for i in ids])


def held_out_predictions(data: dict, family: str) -> dict[str, np.ndarray]:
    """Refusal verdicts on the answers of ``family``'s models by a detector built without that family."""
    train = [s for s in MODELS if MODELS[s][0] != family]
    test = [s for s in MODELS if MODELS[s][0] == family]
    return cross_fitted(data, train, test, leave_out=[family])


def new_prompt_predictions(data: dict) -> dict[str, np.ndarray]:
    """Refusal verdicts on every model's answers by the shipped recipe fitted to all five models' answers to the
    other prompts: how the detector does on prompts it has not seen, for model families it has."""
    return cross_fitted(data, list(MODELS), list(MODELS), leave_out=[])


def cross_fitted(data: dict, train: list[str], test: list[str], *, leave_out: list[str]) -> dict[str, np.ndarray]:
    """Verdicts on ``test``'s answers, each prompt fold scored by a classifier fitted (with the grammar minus the
    rules of the ``leave_out`` families) to ``train``'s answers to the other folds' prompts."""
    from diagnostics.behaviour import refusal_examples
    from diagnostics.behaviour.refusal import Grammar, detect, train_model

    rules = Grammar.default(leave_out=leave_out, model=None)
    out = {s: np.zeros(len(data[s][0]), dtype=bool) for s in test}
    for k in range(FOLDS):
        texts = [*refusal_examples.REFUSALS, *refusal_examples.NOT_REFUSALS]
        labels = [True] * len(refusal_examples.REFUSALS) + [False] * len(refusal_examples.NOT_REFUSALS)
        for s in train:
            answers, labelled, ids = data[s]
            keep = _fold(ids) != k
            texts += [t for t, kept in zip(answers, keep, strict=True) if kept]
            labels += list(labelled[keep] != "1_full_compliance")
        model = train_model(texts, labels, rules)
        grammar = Grammar(rules.refusal, rules.non_answer, rules.disclaimer, model)
        for s in test:
            answers, _, ids = data[s]
            at = np.flatnonzero(_fold(ids) == k)
            out[s][at] = detect([answers[i] for i in at], grammar=grammar).refusal
    return out


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


def measure(texts: list[str], labels: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """The shipped detector's metrics of one model's answers, and its in-sample scores against the labels."""
    from diagnostics.behaviour.metrics import output_metrics

    measured = output_metrics(pd.Series(texts, dtype=object))
    return measured, _scores(measured["refusal"].to_numpy(dtype=bool), labels != "1_full_compliance")


def run() -> dict:
    from diagnostics.behaviour.refusal import Grammar, detect

    directory = data_dir()
    data = load(directory)
    held_out = {}
    for family in sorted({f for f, _ in MODELS.values()}):
        held_out.update(held_out_predictions(data, family))
    new_prompts = new_prompt_predictions(data)
    rows, metrics, seconds, answers = [], {}, 0.0, 0
    for stem, (family, shown) in MODELS.items():
        texts, labels, _ = data[stem]
        labelled = labels != "1_full_compliance"
        started = time.perf_counter()
        measured, in_sample = measure(texts, labels)
        seconds += time.perf_counter() - started
        answers += len(texts)
        rules_only = detect(texts, grammar=Grammar.default(model=None)).refusal
        kind = measured["refusal_kind"].to_numpy()
        partial_true = labels == "3_partial_refusal"
        row = {
            "model": shown,
            "family": family,
            "answers": len(texts),
            "refusals": int(labelled.sum()),
            "partial": int(partial_true.sum()),
            **in_sample,
            "held_out": _scores(held_out[stem], labelled),
            "new_prompts": _scores(new_prompts[stem], labelled),
            "rules_only": _scores(rules_only, labelled),
            "partial_kind": _scores(kind == "partial", partial_true),
            "non_answer": int(measured["non_answer"].sum()),
            "disclaimer": int(measured["disclaimer"].sum()),
        }
        rows.append(row)
        metrics[f"{stem} precision"] = row["precision"]
        metrics[f"{stem} recall"] = row["recall"]
        metrics[f"{stem} held-out precision"] = row["held_out"]["precision"]
        metrics[f"{stem} held-out recall"] = row["held_out"]["recall"]
        metrics[f"{stem} new-prompts precision"] = row["new_prompts"]["precision"]
        metrics[f"{stem} new-prompts recall"] = row["new_prompts"]["recall"]
        metrics[f"{stem} partial-kind precision"] = row["partial_kind"]["precision"]
        metrics[f"{stem} partial-kind recall"] = row["partial_kind"]["recall"]
    metrics["answers per second"] = round(answers / seconds, 1)
    met = all(
        min(r["precision"], r["recall"], r["held_out"]["precision"], r["held_out"]["recall"]) >= TARGET for r in rows
    )
    _print_table(rows)
    return {
        "name": "refusal_quality",
        "target": f"precision and recall >= {TARGET} for every XSTest model, in-sample and with its family held out",
        "ok": met,
        "metrics": metrics,
        "rows": rows,
        "notes": (
            f"data {directory.name}/; in-sample = shipped grammar + classifier (fitted to all five models); held out ="
            f" grammar without the family's rules + classifier refitted in this run to the other families' answers"
            f" to the other prompts ({FOLDS} prompt folds); new prompts = the shipped recipe refitted to all five models'"
            f" answers to the other prompts"
        ),
    }


def _print_table(rows: list[dict]) -> None:
    print(
        f"{'model':<44} {'P':>6} {'R':>6}   {'held-out P/R':>13}   {'new prompts':>13}   {'rules P/R':>11}   partial P/R"
    )
    for r in rows:
        h, n, k, g = r["held_out"], r["new_prompts"], r["partial_kind"], r["rules_only"]
        print(
            f"{r['model']:<44} {r['precision']:>6.3f} {r['recall']:>6.3f}   {h['precision']:>6.3f}/{h['recall']:<6.3f}"
            f"   {n['precision']:>6.3f}/{n['recall']:<6.3f}   {g['precision']:>5.3f}/{g['recall']:<5.3f}"
            f"   {k['precision']:>5.2f}/{k['recall']:<5.2f}"
        )
