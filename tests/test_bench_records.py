"""Benchmark records: the one percentile helper, and docs/benchmarks.md rendered from the committed records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import _records
from bench._stats import percentile


@pytest.mark.parametrize("n", [1, 2, 5, 20, 21, 1000])
@pytest.mark.parametrize("pct", [0, 50, 90, 95, 99, 100])
def test_percentile_interpolates_like_numpy_linear(n, pct):
    values = np.random.default_rng(n).lognormal(size=n)
    assert percentile(values.tolist(), pct) == pytest.approx(float(np.percentile(values, pct)))


def test_percentile_of_twenty_values_is_not_a_floor_rank():
    values = list(range(1, 21))  # 1..20
    assert percentile(values, 95) == pytest.approx(19.05)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_docs_tables_are_rendered_from_the_committed_records():
    text = _records.DOC.read_text()
    assert _records.render(text) == text, "docs/benchmarks.md is out of date: run `python -m bench --render`"


def test_a_record_renders_every_metric_with_command_and_load(tmp_path, monkeypatch):
    monkeypatch.setattr(_records, "RECORDS", tmp_path)
    monkeypatch.setenv("BENCH_INCIDENTS", "300000")
    ctx = _records.context("incidents")
    result = {"name": "incidents", "target": "p95 < 50 ms", "ok": False, "metrics": {"p95 ms": 61.5, "queries": 4}}
    path = _records.write("incidents", [result], ctx)
    assert path.name == "incidents@BENCH_INCIDENTS=300000.jsonl"
    stored = json.loads(path.read_text())
    assert stored["metrics"] == result["metrics"]
    assert stored["recorded"]["command"] == "BENCH_INCIDENTS=300000 .venv/bin/python -m bench incidents"
    assert len(stored["recorded"]["load_before"]) == 3
    doc = "x\n<!-- bench-table: incidents@BENCH_INCIDENTS=300000 -->\nold\n<!-- /bench-table -->\ny\n"
    rendered = _records.render(doc)
    assert "old" not in rendered
    assert "| p95 ms | 61.5 |" in rendered and "| queries | 4 |" in rendered
    assert "**not met**" in rendered and "BENCH_INCIDENTS=300000 .venv/bin/python -m bench incidents" in rendered
    assert _records.render(rendered) == rendered
    summary = _records.render("<!-- bench-summary -->\n<!-- /bench-summary -->")
    assert "| `incidents@BENCH_INCIDENTS=300000` | p95 < 50 ms | **no** |" in summary


def test_judge_outcomes_are_read_back_when_two_processes_wrote_on_one_line():
    from bench.judge_quality import outcomes_in

    one, two, three = ({"outcome": {"scenario": "aa", "volume": 250, "run": i}} for i in range(3))
    text = (
        "a warning from a library\n"
        + json.dumps(one)
        + json.dumps(two)  # two processes' writes on one line
        + "\n"
        + json.dumps(three)[:25]  # a run stopped mid-write
        + "\n"
        + json.dumps(three)
        + "\n"
    )
    assert [o["run"] for o in outcomes_in(text)] == [0, 1, 2]
