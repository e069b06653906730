"""The streaming behaviour diff gives the reports the in-memory engine gave, on project-made pairs.

The expected documents in tests/diagnostics/data/ were written by the engine before it streamed (the whole frame
in memory, every text kept); the same deterministic pairs (``bench/_pairs.py``) go through today's paths: a
frame, the quick-compare command on JSON Lines paired by id and on CSV paired by instruction, in this process
and in worker processes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench._pairs import frame, write_files
from diagnostics.behaviour import AnalysisOptions, analyse
from diagnostics.behaviour.answer_stream import pair_files
from diagnostics.behaviour.answers import AnswerFileError
from diagnostics.behaviour.engine import FrameSource, analyse_source

EXPECTED = Path(__file__).parent / "data"


def expected(name: str) -> dict:
    return json.loads((EXPECTED / f"expected_{name}.json").read_text(encoding="utf-8"))


def plain(report: dict) -> dict:
    return json.loads(json.dumps(report))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_frame_streamed_in_chunks_gives_the_expected_report(workers):
    options = AnalysisOptions(segment_fields=["segment"], bootstrap=500)
    assert plain(analyse(frame(1200, seed=7), options, workers=workers)) == expected("frame_k1")
    several = AnalysisOptions(segment_fields=["segment"], bootstrap=500, top_n=5)
    assert plain(analyse(frame(1200, seed=8, samples=2), several, workers=workers)) == expected("frame_k2")


def test_chunk_size_does_not_change_the_report():
    options = AnalysisOptions(segment_fields=["segment"], bootstrap=500, top_n=5)
    report = analyse_source(FrameSource(frame(1200, seed=8, samples=2), chunk=97), options, workers=1)
    assert plain(report) == expected("frame_k2")


def run_command(tmp_path, a, b, *extra) -> dict:
    out = tmp_path / "report.json"
    call_command("behaviour_diff", str(a), str(b), "--json", str(out), *extra, stdout=io.StringIO(),
                 stderr=io.StringIO())  # fmt: skip
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_command_pairs_jsonl_by_id_and_csv_by_instruction_as_before(tmp_path):
    a, b = write_files(tmp_path / "jsonl", 1200, seed=9)
    assert run_command(tmp_path, a, b, "--segment", "segment", "--bootstrap", "500") == expected("command_id")
    a, b = write_files(tmp_path / "csv", 800, seed=10, layout="csv")
    patterns = ["--refusal-pattern", "I'm sorry", "--refusal-pattern", "zzz never"]
    report = run_command(tmp_path, a, b, "--segment", "segment", "--bootstrap", "300", "--top", "3", *patterns)
    assert report == expected("command_csv")


def test_paired_files_keep_positions_not_texts_and_read_quoted_cases_again(tmp_path):
    a, b = write_files(tmp_path, 300, seed=3)
    with a.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=("a.jsonl", "b.jsonl"), segment_fields=["segment"])
        assert (pairs.size, pairs.by, pairs.only_a, pairs.only_b) == (300, "id", 0, 0)
        assert (pairs.label_a, pairs.label_b) == ("model-a", "model-b")
        streamed = list(pairs.chunks())
        again = pairs.rows([0, 299])
    first = json.loads(a.read_text().splitlines()[0])
    assert streamed[0].loc[0, "case_id"] == first["id"] and streamed[0].loc[0, "output_a"] == first["output"]
    assert list(again["case_id"]) == ["c0", "c299"]


def test_a_repeated_id_and_a_missing_segment_field_are_named_as_before(tmp_path):
    a, b = write_files(tmp_path, 30, seed=3)
    lines = a.read_text().splitlines()
    a.write_text("\n".join([*lines, lines[4]]) + "\n")
    with pytest.raises(CommandError, match=r"a.jsonl record 31: id 'c4' already appears in record 5\."):
        run_command(tmp_path, a, b)
    a.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match="Segment field\\(s\\) tenant are in neither"):
        run_command(tmp_path, a, b, "--segment", "tenant")
    with b.open("rb") as fb, pytest.raises(AnswerFileError, match="the file is empty"):
        pair_files(io.BytesIO(b"  \n"), fb, names=("a.jsonl", "b.jsonl"))
