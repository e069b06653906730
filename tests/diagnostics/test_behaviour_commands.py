"""manage.py behaviour_metrics and behaviour_diff on answer files written here."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diagnostics.behaviour import AnalysisOptions, analyse
from diagnostics.behaviour.answers import pair_answers, read_answers

TOPICS = ["billing", "login", "exports", "alerts"]
HELP = "Open the settings page, pick the tenant and save; the change applies within a minute."


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def answers(n: int, refuse: set[int] = frozenset(), seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        text = "I'm sorry, but I can't help with that." if i in refuse else f"Step {rng.integers(9)}: {HELP}"
        rows.append({"question_id": f"q{i}", "topic": TOPICS[i % 4], "output": text})
    return rows


def test_behaviour_metrics_writes_one_row_per_answer_with_refusal_kind_and_non_answer(tmp_path):
    rows = [
        {"id": "a1", "output": "I'm sorry, but I can't help with that."},
        {"id": "a2", "output": "Could you please provide more details about your setup?"},
        {"id": "=cmd", "output": "Restart the worker after changing the queue settings."},
    ]
    out = tmp_path / "metrics.csv"
    call_command("behaviour_metrics", write_jsonl(tmp_path / "a.jsonl", rows), "--csv", str(out))
    table = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in table] == ["a1", "a2", "'=cmd"]  # a spreadsheet never runs an id as a formula
    assert [(r["refusal"], r["refusal_kind"], r["non_answer"]) for r in table] == [
        ("1", "full", "0"),
        ("0", "", "1"),
        ("0", "", "0"),
    ]
    assert {"chars", "words", "hedging", "flattery", "disclaimer"} <= set(table[0])


def test_behaviour_metrics_reads_a_named_text_field_from_csv(tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text('uid,reply\nu1,"I must decline to write that."\nu2,Sure.\n', encoding="utf-8")
    out = io.StringIO()
    call_command("behaviour_metrics", str(path), "--text-field", "reply", stdout=out, stderr=io.StringIO())
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["id"], r["refusal"]) for r in table] == [("u1", "1"), ("u2", "0")]


def test_behaviour_diff_finds_a_refusal_regression_in_the_segment_that_moved(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", answers(200))
    refused = {i for i in range(200) if TOPICS[i % 4] == "billing" and i % 8 < 6}  # 25 of the 50 billing prompts
    b = write_jsonl(tmp_path / "b.jsonl", answers(200, refuse=refused))
    report_path = tmp_path / "report.json"
    out = io.StringIO()
    call_command(
        "behaviour_diff", a, b, "--segment", "topic", "--label-a", "v1", "--label-b", "v2",
        "--json", str(report_path), stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "regression" and report["sides"] == {"a": "v1", "b": "v2"}
    regressions = {(s["value"], s["metric"]) for s in report["segments"] if s["verdict"] == "regression"}
    assert ("billing", "refusal") in regressions
    assert not any(value != "billing" for value, metric in regressions if metric == "refusal")
    assert "| v1 | v2 |" in out.getvalue()


def test_behaviour_diff_writes_the_document_a_report_export_holds(tmp_path):
    rows_a, rows_b = answers(40), answers(40, seed=1)
    path_a, path_b = write_jsonl(tmp_path / "a.jsonl", rows_a), write_jsonl(tmp_path / "b.jsonl", rows_b)
    report_path = tmp_path / "r.json"
    call_command(
        "behaviour_diff", path_a, path_b, "--json", str(report_path), stdout=io.StringIO(), stderr=io.StringIO()
    )
    written = json.loads(report_path.read_text(encoding="utf-8"))
    pairing = pair_answers(
        read_answers((tmp_path / "a.jsonl").read_bytes(), filename="a.jsonl"),
        read_answers((tmp_path / "b.jsonl").read_bytes(), filename="b.jsonl"),
        names=("a.jsonl", "b.jsonl"),
    )
    expected = analyse(pairing.frame, AnalysisOptions(label_a=pairing.label_a, label_b=pairing.label_b))
    assert written == json.loads(json.dumps(expected))


def test_a_null_comparison_of_two_samples_of_the_same_behaviour_stays_quiet(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", answers(300, refuse=set(range(0, 300, 10)), seed=1))
    b = write_jsonl(tmp_path / "b.jsonl", answers(300, refuse=set(range(0, 300, 10)), seed=2))
    report_path = tmp_path / "r.json"
    call_command(
        "behaviour_diff", a, b, "--segment", "topic", "--json", str(report_path),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "no_significant_change"
    assert not [s for s in report["segments"] if s["verdict"] in ("regression", "improvement")]


def test_behaviour_diff_reports_a_bad_file_and_a_bad_direction_clearly(tmp_path):
    good = write_jsonl(tmp_path / "a.jsonl", answers(10))
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"question_id": "q1"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match=r"b\.jsonl record 1: no answer text"):
        call_command("behaviour_diff", good, str(bad), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="directions name unknown metric"):
        call_command(
            "behaviour_diff", good, good, "--direction", "politeness=up_is_worse",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip


def test_behaviour_metrics_on_xstest_files_gives_the_benchmark_figures(tmp_path):
    """The refusal-quality benchmark's in-sample precision and recall are those of behaviour_metrics' rows, on
    files in XSTest's layout written here (one per model the benchmark reads, read by the benchmark's reader)."""
    from bench import refusal_quality

    styles = [
        ("I'm sorry, but I can't help with that.", "2_full_refusal"),
        ("I must decline to write that message.", "2_full_refusal"),
        ("It is not appropriate to share a stranger's address.", "2_full_refusal"),
        (
            "I cannot share the runbook. However, if you're looking for the general approach:" + HELP * 5,
            "3_partial_refusal",
        ),
        ("Restart the worker, then " + HELP, "1_full_compliance"),
        ("Sure! " + HELP, "1_full_compliance"),
        ("You should not restart the primary at noon. " + HELP, "1_full_compliance"),
        ("I'm not a doctor, but rest the ankle for two days." + HELP * 4, "1_full_compliance"),
        ("I can't stress enough how much a retry budget helps. " + HELP, "2_full_refusal"),  # a label it misses
    ]
    for stem in refusal_quality.MODELS:
        with (tmp_path / f"completions_{stem}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "type", "prompt", "completion", "final_label"])
            for k in range(3):
                for i, (text, label) in enumerate(styles):
                    writer.writerow([f"v2-{k * len(styles) + i + 1}", "t", "q", text, label])
    data = refusal_quality.load(tmp_path)
    for stem in refusal_quality.MODELS:
        texts, labels, _ = data[stem]
        _, row = refusal_quality.measure(texts, labels)
        out = tmp_path / f"{stem}.metrics.csv"
        call_command(
            "behaviour_metrics",
            str(tmp_path / f"completions_{stem}.csv"),
            "--csv",
            str(out),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        table = list(csv.DictReader(out.open(encoding="utf-8")))
        predicted = np.array([r["refusal"] == "1" for r in table])
        labelled = np.array([label != "1_full_compliance" for _ in range(3) for _, label in styles])
        tp = int((predicted & labelled).sum())
        assert row["precision"] == round(tp / max(predicted.sum(), 1), 3)
        assert row["recall"] == round(tp / labelled.sum(), 3)
        assert row["recall"] < 1.0  # the missed label is missed: the figures are measured, not assumed


def test_the_benchmark_scores_each_prompt_with_classifiers_that_never_saw_its_answers():
    """The "new prompts" and "held out" verdicts on a prompt's answers come from classifiers fitted without any
    answer to that prompt: relabelling every model's answers to the prompts of one fold leaves that fold's verdicts
    as they were, and changes the verdicts of the other folds."""
    from bench import refusal_quality

    refusing = [f"Please do not ask me about item {i}; I will not describe it." for i in range(40)]
    helping = [f"Item {i} is on the second shelf, next to the blue folders. " + HELP for i in range(40)]
    ids = np.array([f"v2-{i + 1}" for i in range(80)])
    texts = refusing + helping
    labels = np.array(["2_full_refusal"] * 40 + ["1_full_compliance"] * 40, dtype=object)
    fold = refusal_quality._fold(ids)

    def verdicts(relabel_fold: int | None) -> dict:
        changed = labels.copy()
        if relabel_fold is not None:
            # Every answer to that fold's prompts is labelled the other way round, for every model.
            changed[fold == relabel_fold] = np.where(
                changed[fold == relabel_fold] == "1_full_compliance", "2_full_refusal", "1_full_compliance"
            )
        data = dict.fromkeys(refusal_quality.MODELS, (texts, changed, ids))
        return {
            "new": refusal_quality.new_prompt_predictions(data),
            "held": refusal_quality.held_out_predictions(data, "mistral"),
        }

    before, after = verdicts(None), verdicts(0)
    for kind in ("new", "held"):
        for stem, predicted in after[kind].items():
            assert (predicted[fold == 0] == before[kind][stem][fold == 0]).all()
    # The same relabelling seen by the other folds' classifiers does move their verdicts (the check can fail).
    assert any((after["new"][s][fold != 0] != before["new"][s][fold != 0]).any() for s in after["new"])
