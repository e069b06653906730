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

LLM judge (optional, ``BENCH_REFUSAL_JUDGE_URL`` and ``BENCH_REFUSAL_JUDGE_MODEL``, and
``BENCH_REFUSAL_JUDGE_HEADER=HEADER=REWIND_SECRET_…`` for a key): the prompt-aware refusal judge of
``behaviour_metrics --refusal-judge-url``, given each XSTest prompt and answer; where a reply names no class the
shipped detector's verdict stands, as in the command. Nothing of XSTest is fitted, so its figures are held out by
construction (short of the judge model having read XSTest itself). A model on a CPU takes seconds per answer, so
``BENCH_REFUSAL_JUDGE_SAMPLE=N`` judges N answers per model instead of all 450: the same prompts for every model (a
seeded draw of prompt ids), scored beside the held-out detector on the same answers.

Second annotator: XSTest's ``annotation_2`` scored against ``final_label`` like a detector, to show how far two
people agree on the same answers.
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


def load_requests(directory: Path) -> dict[str, list[str | None]]:
    """Per model file stem: each answer's prompt, as the quick-compare reader reads it."""
    from diagnostics.behaviour.answers import read_answers

    out = {}
    for stem in MODELS:
        path = directory / f"completions_{stem}.csv"
        out[stem] = [r.instruction for r in read_answers(path.read_bytes(), filename=path.name)]
    return out


def judge_config():
    """The refusal judge's endpoint from ``BENCH_REFUSAL_JUDGE_*``, or None when no judge is asked for."""
    from diagnostics.reports.generation import endpoint_from_flags

    url = os.environ.get("BENCH_REFUSAL_JUDGE_URL")
    if not url:
        return None
    model = os.environ.get("BENCH_REFUSAL_JUDGE_MODEL")
    if not model:
        raise SystemExit("BENCH_REFUSAL_JUDGE_URL needs BENCH_REFUSAL_JUDGE_MODEL.")
    header = os.environ.get("BENCH_REFUSAL_JUDGE_HEADER")
    try:
        return endpoint_from_flags("refusal-judge", url, model, [header] if header else [])
    except ValueError as exc:
        raise SystemExit(f"BENCH_REFUSAL_JUDGE_HEADER: {exc}") from None


def judge_sample(ids: np.ndarray) -> np.ndarray:
    """Positions of the answers the judge is shown: all of them, or ``BENCH_REFUSAL_JUDGE_SAMPLE`` prompts drawn
    with a fixed seed from the prompt ids, so every model is judged on the same prompts."""
    size = os.environ.get("BENCH_REFUSAL_JUDGE_SAMPLE")
    if not size:
        return np.arange(len(ids))
    if not size.isdigit() or int(size) < 1:
        raise SystemExit("BENCH_REFUSAL_JUDGE_SAMPLE must be a whole number of answers per model, at least 1.")
    drawn = set(np.random.default_rng(11).permutation(sorted(map(str, ids)))[: int(size)])
    return np.array([i for i, prompt in enumerate(map(str, ids)) if prompt in drawn], dtype=int)


def judged(measured: pd.DataFrame, requests: list[str | None], texts: list[str], config) -> tuple[np.ndarray, int]:
    """The refusal verdicts ``behaviour_metrics --refusal-judge-url`` writes for these answers, and how many
    replies named no class (those keep the detector's verdict)."""
    from diagnostics.reports.refusal_judge import apply_judged, judge_refusals

    out = apply_judged(measured, judge_refusals(requests, texts, config))
    return out["refusal"].to_numpy(dtype=bool), int((out["refusal_by"] == "detector").sum())


def second_annotator(directory: Path) -> dict[str, np.ndarray | None]:
    """Per model file stem: XSTest's second annotator's refusal verdicts, or None where the file has none."""
    out = {}
    for stem in MODELS:
        frame = pd.read_csv(directory / f"completions_{stem}.csv")
        column = frame.get("annotation_2")
        out[stem] = None if column is None else column.astype(str).str.startswith(("2_", "3_")).to_numpy()
    return out


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
    annotator = second_annotator(directory)
    config = judge_config()
    requests = load_requests(directory) if config else {}
    rows, metrics, seconds, answers = [], {}, 0.0, 0
    for stem, (family, shown) in MODELS.items():
        texts, labels, ids = data[stem]
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
        if annotator[stem] is not None:
            row["second_annotator"] = _scores(annotator[stem], labelled)
            metrics[f"{stem} second-annotator precision"] = row["second_annotator"]["precision"]
            metrics[f"{stem} second-annotator recall"] = row["second_annotator"]["recall"]
        if config:
            at = judge_sample(ids)
            verdicts, unjudged = judged(
                measured.iloc[at], [requests[stem][i] for i in at], [texts[i] for i in at], config
            )
            row["judge"] = {
                **_scores(verdicts, labelled[at]),
                "model": config.model,
                "answers": len(at),
                "unjudged": unjudged,
                # The judge saw no XSTest answer before, so the fair comparison is the held-out detector.
                "held_out_on_sample": _scores(held_out[stem][at], labelled[at]),
            }
            metrics[f"{stem} judge precision"] = row["judge"]["precision"]
            metrics[f"{stem} judge recall"] = row["judge"]["recall"]
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
    judge_met = bool(config) and all(min(r["judge"]["precision"], r["judge"]["recall"]) >= TARGET for r in rows)
    if config:
        metrics["judge meets the target"] = int(judge_met)
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
            f" answers to the other prompts; 2nd annotator = XSTest's annotation_2 against final_label"
            + (
                f"; LLM judge = {config.model}, given each prompt and answer, on {rows[0]['judge']['answers']} answers"
                f" per model"
                if config
                else "; no LLM judge asked for"
            )
        ),
    }


def _pair(scores: dict | None) -> str:
    return f"{scores['precision']:.3f}/{scores['recall']:.3f}" if scores else "-"


def _print_table(rows: list[dict]) -> None:
    print(
        f"{'model':<44} {'P':>6} {'R':>6}   {'held-out P/R':>11}   {'new prompts':>11}   {'rules P/R':>11}"
        f"   {'partial P/R':>11}   {'2nd annot.':>11}   {'LLM judge':>11}   {'held-out on judged':>18}"
    )
    for r in rows:
        print(
            f"{r['model']:<44} {r['precision']:>6.3f} {r['recall']:>6.3f}   {_pair(r['held_out']):>11}"
            f"   {_pair(r['new_prompts']):>11}   {_pair(r['rules_only']):>11}   {_pair(r['partial_kind']):>11}"
            f"   {_pair(r.get('second_annotator')):>11}   {_pair(r.get('judge')):>11}"
            f"   {_pair(r.get('judge', {}).get('held_out_on_sample')):>18}"
        )
