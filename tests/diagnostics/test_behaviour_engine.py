"""The behaviour-diff engine on constructed data whose answers are known."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scistats

from diagnostics.behaviour import AnalysisOptions, analyse, output_metrics, report_csv, report_markdown, similarity
from diagnostics.behaviour.engine import _word_diff
from diagnostics.behaviour.stats import benjamini_hochberg, holm, mcnemar

SENTENCES = [
    "Restart the worker after changing the queue settings.",
    "The cache keeps results for ten minutes by default.",
    "Use the retry budget to avoid overloading the upstream service.",
    "Each tenant has its own rate limit and quota.",
    "Logs are kept for thirty days in the archive bucket.",
    "The release notes list every change to the prompt template.",
    "Check the dashboard for the error rate before and after the deploy.",
    "Timeouts default to thirty seconds for the model endpoint.",
    "A rollback restores the previous release within a minute.",
    "Latency budgets differ between interactive and batch traffic.",
]
REFUSAL = "I'm sorry, but I can't help with that."


def prose(rng: np.random.Generator, n_sentences: int = 5) -> str:
    return " ".join(rng.choice(SENTENCES, size=n_sentences))


def frame_of(a: list[str], b: list[str], **columns) -> pd.DataFrame:
    return pd.DataFrame({"case_id": range(len(a)), "sample": 0, "output_a": a, "output_b": b, **columns})


def cells(report: dict, verdict: str) -> set[tuple]:
    return {(s["field"], s["value"], s["metric"]) for s in report["segments"] if s["verdict"] == verdict}


def test_refusals_injected_into_one_segment_are_found_there_and_nowhere_else():
    rng = np.random.default_rng(1)
    tenants = [f"tenant-{t}" for t in "abcdef" for _ in range(60)]
    a = [prose(rng) for _ in tenants]
    b = list(a)
    injected = [i for i, t in enumerate(tenants) if t == "tenant-c" and i % 5 < 2]  # 24 of 60
    for i in injected:
        b[i] = REFUSAL
    report = analyse(frame_of(a, b, tenant=tenants), AnalysisOptions(segment_fields=["tenant"]))

    assert cells(report, "regression") == {("tenant", "tenant-c", "refusal")}
    refusal_cells = [s for s in report["segments"] if s["metric"] == "refusal"]
    assert {s["value"] for s in refusal_cells if s["delta"] != 0} == {"tenant-c"}
    tenant_c = next(s for s in refusal_cells if s["value"] == "tenant-c")
    assert tenant_c["delta"] == pytest.approx(24 / 60)
    assert tenant_c["ci"][0] > 0
    assert report["flip_matrices"]["refusal"] == {"both_false": 336, "a_only": 0, "b_only": 24, "both_true": 0}
    assert report["verdict"] == "regression"
    refusal = next(m for m in report["metrics"] if m["name"] == "refusal")
    assert refusal["verdict"] == "regression"
    assert refusal["effect"] == pytest.approx(24 / 360)
    # Shorter answers in tenant-c are a neutral change, never a regression.
    assert all(
        s["verdict"] in ("changed", "no_significant_change") for s in report["segments"] if s["metric"] == "chars"
    )


def test_identical_outputs_give_no_change_and_similarity_one():
    rng = np.random.default_rng(2)
    a = [prose(rng) for _ in range(120)] + ['{"status": "ok"}'] * 20 + [REFUSAL] * 10
    report = analyse(frame_of(a, list(a), locale=["en", "de", "fr"] * 50), AnalysisOptions(segment_fields=["locale"]))

    assert report["verdict"] == "no_significant_change"
    assert {m["verdict"] for m in report["metrics"]} == {"no_significant_change"}
    assert all(m["effect"] == 0 and m["p_value"] == 1 for m in report["metrics"])
    assert {s["verdict"] for s in report["segments"]} == {"no_significant_change"}
    assert report["similarity"]["mean"] == 1.0
    assert report["similarity"]["p10"] == 1.0
    assert report["flip_matrices"]["json_valid"] == {"both_false": 130, "a_only": 0, "b_only": 0, "both_true": 20}
    assert report["noise_floor"] is None
    assert all(
        ops == [["equal", change["output_a"]]] for change in report["top_changes"] for ops in [change["word_diff"]]
    )


def noisy_answer(rng: np.random.Generator, topic: int) -> str:
    """One sample of a fixed 'model': the answer to a case varies between samples, not between releases."""
    text = " ".join(SENTENCES[(topic + j) % len(SENTENCES)] for j in range(rng.integers(3, 8)))
    if rng.random() < 0.3:
        text = "I think " + text
    if rng.random() < 0.4:
        text = "## Steps\n- " + text.replace(". ", ".\n- ")
    if rng.random() < 0.08:
        text = REFUSAL
    if rng.random() < 0.15:
        text = json.dumps({"answer": text})
    return text


def test_a_null_comparison_with_three_noisy_samples_is_quiet():
    rng = np.random.default_rng(3)
    rows = []
    for case in range(300):
        for sample in range(3):
            rows.append(
                {
                    "case_id": f"case-{case}",
                    "sample": sample,
                    "output_a": noisy_answer(rng, case),
                    "output_b": noisy_answer(rng, case),
                    "intent": f"intent-{case % 4}",
                    "latency_a": rng.gamma(4, 100),
                    "latency_b": rng.gamma(4, 100),
                }
            )
    report = analyse(pd.DataFrame(rows), AnalysisOptions(segment_fields=["intent"], bootstrap=500))

    assert report["k_samples"] == 3
    assert report["n_cases"] == 300
    assert report["verdict"] == "no_significant_change"
    assert not {m["verdict"] for m in report["metrics"]} & {"regression", "improvement", "changed"}
    assert not {s["verdict"] for s in report["segments"]} & {"regression", "improvement"}
    assert set(report["noise_floor"]) >= {"refusal", "chars", "hedging", "latency"}
    assert all(report["noise_floor"][m] > 0 for m in ("refusal", "chars", "hedging", "latency"))
    assert report["similarity"]["mean"] < 1.0


def test_a_change_smaller_than_the_noise_floor_is_no_significant_change():
    rng = np.random.default_rng(4)
    rows = []
    for case in range(400):
        for sample in range(3):
            # Length varies by hundreds of characters between samples; release B is 1 character longer.
            base = "word " * int(rng.integers(20, 200))
            rows.append({"case_id": case, "sample": sample, "output_a": base, "output_b": base + "x"})
    report = analyse(pd.DataFrame(rows), AnalysisOptions(segment_fields=[], bootstrap=300))
    chars = next(m for m in report["metrics"] if m["name"] == "chars")
    assert chars["p_value"] < 0.001  # every case is exactly one character longer...
    assert chars["effect"] == pytest.approx(1.0)
    assert chars["noise_floor"] > 1.0  # ...but samples of one release differ by far more
    assert chars["verdict"] == "no_significant_change"
    assert "noise floor" in chars["reason"]


def test_a_json_validity_drop_is_detected_by_mcnemar_with_the_right_flip_counts():
    valid, broken, plain = '{"id": 1, "ok": true}', '{"id": 1, "ok": tru', "Plain prose answer."
    a = [valid] * 150 + [valid] * 30 + [broken] * 5 + [plain] * 15
    b = [valid] * 150 + [broken] * 30 + [valid] * 5 + [plain] * 15
    report = analyse(frame_of(a, b), AnalysisOptions(segment_fields=[], bootstrap=500))

    assert report["flip_matrices"]["json_valid"] == {"both_false": 15, "a_only": 30, "b_only": 5, "both_true": 150}
    json_valid = next(m for m in report["metrics"] if m["name"] == "json_valid")
    expected_p = scistats.chi2.sf((abs(30 - 5) - 1) ** 2 / 35, 1)  # continuity-corrected chi-square
    assert json_valid["p_value"] == pytest.approx(expected_p, rel=1e-4)
    assert json_valid["verdict"] == "regression"
    assert json_valid["effect"] == pytest.approx(-25 / 200)
    assert json_valid["ci"][0] < -25 / 200 < json_valid["ci"][1] < 0
    assert report["verdict"] == "regression"


def test_mcnemar_uses_the_exact_binomial_test_for_few_discordant_pairs():
    assert mcnemar(8, 0) == pytest.approx(2 * 0.5**8)
    assert mcnemar(3, 3) == pytest.approx(1.0)
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(40, 10) == pytest.approx(scistats.chi2.sf(29**2 / 50, 1))


def test_holm_and_benjamini_hochberg_adjust_only_the_tests():
    assert holm([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    assert benjamini_hochberg([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.04, None, 0.04])


def test_a_fenced_json_block_counts_as_valid_json():
    texts = pd.Series(
        [
            'Here it is:\n```json\n{"a": 1}\n```\nAnything else?',
            "```\n[1, 2, 3]\n```",
            "```json\n{not json}\n```",
            ' {"a": 1} ',
            "42",
            "```python\n{'a': 1}\n```",
        ]
    )
    assert output_metrics(texts)["json_valid"].tolist() == [True, True, False, True, False, False]


def test_schema_validity_is_checked_where_a_schema_is_given():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    texts = pd.Series(['{"n": 3}', '{"n": "three"}', '```json\n{"n": 4}\n```', "no json here", '{"n": 1}'])
    schemas = pd.Series([schema, json.dumps(schema), schema, schema, None])
    result = output_metrics(texts, schemas=schemas)["schema_valid"]
    assert result.iloc[:4].tolist() == [True, False, True, False]
    assert result.isna().tolist() == [False, False, False, False, True]

    with pytest.raises(ValueError, match="JSON schema is invalid"):
        output_metrics(pd.Series(["{}"]), schemas=pd.Series([{"type": "no-such-type"}]))


def test_a_schema_validity_drop_is_a_regression_in_the_report():
    schema = json.dumps({"type": "object", "required": ["answer"]})
    a = ['{"answer": "yes"}'] * 80
    b = ['{"answer": "yes"}'] * 50 + ['{"reply": "yes"}'] * 30
    report = analyse(frame_of(a, b, schema=[schema] * 80), AnalysisOptions(segment_fields=[], bootstrap=300))
    schema_valid = next(m for m in report["metrics"] if m["name"] == "schema_valid")
    assert schema_valid["verdict"] == "regression"
    assert report["flip_matrices"]["schema_valid"]["a_only"] == 30
    json_valid = next(m for m in report["metrics"] if m["name"] == "json_valid")
    assert json_valid["verdict"] == "no_significant_change"


def test_the_word_diff_of_a_small_example():
    ops = _word_diff("the quick brown fox", "the slow brown fox jumps")
    assert ops == [
        ["equal", "the "],
        ["delete", "quick"],
        ["insert", "slow"],
        ["equal", " brown fox"],
        ["insert", " jumps"],
    ]
    assert "".join(t for op, t in ops if op != "insert") == "the quick brown fox"
    assert "".join(t for op, t in ops if op != "delete") == "the slow brown fox jumps"


def test_top_changes_are_ranked_most_changed_first_with_their_segment():
    rng = np.random.default_rng(5)
    a = [prose(rng) for _ in range(40)]
    b = list(a)
    b[7] = "Completely different words here."
    b[3] = a[3] + " One more sentence."
    report = analyse(frame_of(a, b, tenant=["t1", "t2"] * 20), AnalysisOptions(segment_fields=["tenant"], top_n=3))
    top = report["top_changes"]
    assert [c["case_id"] for c in top[:2]] == [7, 3]
    assert top[0]["similarity"] == 0.0
    assert top[0]["segment"] == {"tenant": "t2"}
    assert top[1]["similarity"] < 1.0
    assert len(top) == 3


def test_markers_structure_and_lengths_are_counted():
    texts = pd.Series(
        [
            "Great question! I think it might work, you\u2019re absolutely right.",
            "# Plan\n\n## Steps\n- one\n- two\n1. three\n```sh\nls\n```\n",
            "As an AI language model, I cannot browse the web.",
        ]
    )
    m = output_metrics(texts)
    assert m["hedging"].tolist() == [2, 0, 0]
    assert m["flattery"].tolist() == [2, 0, 0]
    assert m["headings"].tolist() == [0, 2, 0]
    assert m["list_items"].tolist() == [0, 3, 0]
    assert m["code_blocks"].tolist() == [0, 1, 0]
    assert m["refusal"].tolist() == [False, False, True]
    assert m["words"].tolist()[0] == 10
    assert m["chars"].tolist() == texts.str.len().tolist()


def test_refusal_patterns_are_configurable():
    texts = pd.Series(["Nope, not doing that.", "I'm sorry, but I can't do that."])
    assert output_metrics(texts)["refusal"].tolist() == [False, True]
    assert output_metrics(texts, refusal_patterns=[r"Nope, not"])["refusal"].tolist() == [True, False]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        output_metrics(texts, refusal_patterns=["(unclosed"])


class LetterCounts:
    """A tiny embedding backend: letter frequencies (enough to tell the hook is used)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 26))
        for i, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_similarity_is_normalised_and_uses_an_embedding_backend_when_given():
    a = pd.Series(["the cat sat", "alpha beta", "", "Same words here"])
    b = pd.Series(["the cat sat down", "gamma delta", "", "here words same!"])
    lexical = similarity(a, b)
    assert lexical.tolist() == pytest.approx([0.75, 0.0, 1.0, 1.0])
    embedded = similarity(a, b, backend=LetterCounts())
    assert 0 < embedded[1] < 1  # letters overlap even where no word does
    report = analyse(frame_of(list(a), list(b)), AnalysisOptions(segment_fields=[]), embedding_backend=LetterCounts())
    assert report["similarity"]["backend"] == "embedding"


def test_the_report_is_json_serialisable():
    rng = np.random.default_rng(6)
    a = [prose(rng) for _ in range(30)]
    b = [prose(rng) for _ in range(30)]
    frame = frame_of(a, b, tenant=np.array(["x", "y", None] * 10, dtype=object), latency_a=1.0, latency_b=2.0)
    frame["case_id"] = np.arange(30, dtype=np.int64)
    report = analyse(frame, AnalysisOptions(segment_fields=["tenant"], bootstrap=200))
    decoded = json.loads(json.dumps(report, allow_nan=False))
    assert decoded == report
    assert set(report) >= {
        "n_cases", "k_samples", "verdict", "reason", "metrics", "flip_matrices", "segments", "noise_floor",
        "distributions", "similarity", "top_changes",
    }  # fmt: skip
    assert {s["value"] for s in report["segments"]} == {"x", "y", "(missing)"}
    assert set(report["distributions"]["chars"]) == {"a", "b"}
    assert report["verdict"] in ("regression", "improvement", "no_significant_change", "inconclusive")


def test_progress_is_reported_and_raising_from_it_cancels():
    rng = np.random.default_rng(7)
    a = [prose(rng) for _ in range(20)]
    seen = []
    analyse(frame_of(a, a), AnalysisOptions(segment_fields=[], bootstrap=100), progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)

    class Cancelled(Exception):
        pass

    def cancel(fraction: float, message: str) -> None:
        if fraction > 0.5:
            raise Cancelled

    with pytest.raises(Cancelled):
        analyse(frame_of(a, a), AnalysisOptions(segment_fields=[]), progress=cancel)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["output_b"]), "missing column"),
        (lambda f: f.assign(output_a=[None, *f["output_a"][1:]]), "output_a is missing in 1 row"),
        (lambda f: f.assign(sample=0, case_id=0), "same sample number"),
        (lambda f: f.iloc[0:0], "no rows"),
        (lambda f: f.assign(latency_a="slow", latency_b=1.0), "must be numbers"),
    ],
)
def test_bad_input_gives_a_clear_error(change, message):
    frame = frame_of(["a", "b", "c"], ["a", "b", "d"])
    with pytest.raises(ValueError, match=message):
        analyse(change(frame), AnalysisOptions(segment_fields=[]))


def test_too_few_cases_are_inconclusive():
    report = analyse(frame_of(["a", "b"], [REFUSAL, REFUSAL]), AnalysisOptions(segment_fields=[]))
    assert report["verdict"] == "inconclusive"
    assert {m["verdict"] for m in report["metrics"]} == {"inconclusive"}


def test_a_missing_segment_column_is_named_and_a_missing_sample_column_means_one_sample():
    frame = frame_of(["a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e"]).drop(columns=["sample"])
    with pytest.raises(ValueError, match="missing column\\(s\\): tenant"):
        analyse(frame, AnalysisOptions(segment_fields=["tenant"]))
    report = analyse(frame, AnalysisOptions(segment_fields=[], bootstrap=100))
    assert report["k_samples"] == 1
    assert report["n_cases"] == 5


def test_the_report_exports_to_markdown_and_csv():
    rng = np.random.default_rng(8)
    tenants = [f"t{i % 3}" for i in range(90)]
    a = [prose(rng) for _ in tenants]
    b = [REFUSAL if t == "t1" and i % 2 else text for i, (t, text) in enumerate(zip(tenants, a, strict=True))]
    report = analyse(frame_of(a, b, tenant=tenants), AnalysisOptions(segment_fields=["tenant"], bootstrap=200))

    markdown = report_markdown(report, label_a="v1", label_b="v2")
    assert markdown.startswith("**Verdict: regression**")
    assert "| refusal | up_is_worse |" in markdown
    assert "- tenant=t1 (n=30): refusal" in markdown

    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert len(rows) == len(report["metrics"]) + len(report["segments"])
    refusal_t1 = next(r for r in rows if r["scope"] == "segment" and r["value"] == "t1" and r["metric"] == "refusal")
    assert refusal_t1["verdict"] == "regression"
    assert float(refusal_t1["effect"]) == pytest.approx(15 / 30)


def test_with_several_samples_binary_metrics_compare_per_case_rates():
    rng = np.random.default_rng(9)
    rows = []
    for case in range(120):
        refusing_b = 2 if case < 40 else 0  # release B refuses 2 of 3 samples on the first 40 cases
        for sample in range(3):
            text = prose(rng)
            rows.append(
                {
                    "case_id": case,
                    "sample": sample,
                    "output_a": text,
                    "output_b": REFUSAL if sample < refusing_b else text,
                }
            )
    report = analyse(pd.DataFrame(rows), AnalysisOptions(segment_fields=[], bootstrap=300))
    refusal = next(m for m in report["metrics"] if m["name"] == "refusal")
    assert refusal["effect"] == pytest.approx(40 * (2 / 3) / 120)
    assert refusal["verdict"] == "regression"
    assert report["flip_matrices"]["refusal"] == {"both_false": 80, "a_only": 0, "b_only": 40, "both_true": 0}
    assert refusal["noise_floor"] > 0


def test_the_word_diff_of_long_answers_stays_fast_and_still_rebuilds_both_sides():
    rng = np.random.default_rng(10)
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"])
    a, b = " ".join(rng.choice(words, 3000)), " ".join(rng.choice(words, 3000))
    ops = _word_diff(a, b)  # the exact alignment of these takes seconds; the coarse one milliseconds
    assert "".join(t for op, t in ops if op != "insert") == a
    assert "".join(t for op, t in ops if op != "delete") == b


def test_similarity_is_the_jaccard_of_each_pairs_word_sets():
    from diagnostics.behaviour.words import tokenise

    rng = np.random.default_rng(11)
    vocabulary = ["the", "cat", "sat", "Café", "naïve", "don't", "x1", "supercalifragilistic", "日本語", "on", "mat"]
    a = [" ".join(rng.choice(vocabulary, size=rng.integers(0, 30))) for _ in range(300)]
    b = [" ".join(rng.choice(vocabulary, size=rng.integers(0, 30))) for _ in range(300)]

    def buckets(text: str) -> set[int]:  # each distinct word's bucket, as the engine hashes words
        return set((tokenise([text]).hash >> np.uint64(64 - 15)).tolist())

    expected = []
    for left, right in zip(a, b, strict=True):
        sa, sb = buckets(left), buckets(right)
        expected.append(len(sa & sb) / len(sa | sb) if sa | sb else 1.0)
    assert similarity(pd.Series(a), pd.Series(b)).tolist() == pytest.approx(expected)


def test_words_are_runs_of_letters_digits_apostrophes_and_other_scripts_in_any_case():
    from diagnostics.behaviour.words import tokenise

    def words(text: str) -> list[int]:
        return tokenise([text]).hash.tolist()

    [dont, stop, number, foreign] = words("Don\u2019t STOP_me, 42x; naïve\u2014日本語!")
    assert dont == words("don't")[0] and stop == words("stop_me")[0] and number == words("42X")[0]
    assert foreign == words("NAÏVE\u2014日本語")[0]  # non-ASCII letters and marks join the word
    assert len(set(words("a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 _ '"))) == 38
    # A word's first 16 bytes and its length make its hash: the second 8 bytes count, later ones do not.
    assert words("internationalisation")[0] != words("internationXlisation")[0]
    assert words("internationalisation")[0] == words("internationalisatioX")[0]
    tokens = tokenise(["one two", "", "three"])
    assert tokens.row.tolist() == [0, 0, 2] and tokens.offset.tolist() == [0, 4, 0]
