"""Worker processes read answer files from positions and give the report the in-memory engine gave.

The pairs and expected document are those of ``test_streaming_diff`` (the command on JSON Lines paired by id);
here the chunks go to two worker processes as positions, and the layouts a worker cannot read from positions
(a JSON array, an upload held in memory) are read in this process instead, with the same report.
"""

from __future__ import annotations

import io
import json

import pytest

from bench._pairs import write_files
from diagnostics.behaviour.answer_stream import pair_files
from diagnostics.behaviour.answers import AnswerFileError
from diagnostics.behaviour.engine import AnalysisOptions, analyse_source
from tests.diagnostics.test_streaming_diff import expected, plain


def report(pairs, workers: int) -> dict:
    options = AnalysisOptions(segment_fields=["segment"], bootstrap=500, label_a=pairs.label_a, label_b=pairs.label_b)
    return plain(analyse_source(pairs, options, workers=workers))


def test_workers_read_records_at_their_positions(tmp_path):
    a, b = write_files(tmp_path, 1200, seed=9)
    with a.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=(a.name, b.name), segment_fields=["segment"])
        assert pairs.tasks() is not None
        assert report(pairs, workers=2) == expected("command_id")


def test_a_json_array_and_an_upload_in_memory_are_read_here_with_the_same_report(tmp_path):
    a, b = write_files(tmp_path, 1200, seed=9)
    array = tmp_path / "a.json"
    array.write_text(json.dumps([json.loads(line) for line in a.read_text().splitlines()]))
    with array.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=("a.jsonl", b.name), segment_fields=["segment"])
        assert pairs.tasks() is None
        assert report(pairs, workers=2) == expected("command_id")
    upload = io.BytesIO(a.read_bytes())
    with b.open("rb") as fb:
        pairs = pair_files(upload, fb, names=(a.name, b.name), segment_fields=["segment"])
        assert pairs.tasks() is None
        assert report(pairs, workers=1) == expected("command_id")


def test_a_record_the_fast_decoder_refuses_is_read_as_json_reads_it(tmp_path):
    a, b = write_files(tmp_path, 40, seed=3)
    lines = a.read_text().splitlines()
    record = json.loads(lines[0])
    lines[0] = json.dumps({**record, "score": float("nan")})  # NaN: valid for json, not for msgspec
    a.write_text("\n".join(lines) + "\n")
    with a.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=(a.name, b.name), segment_fields=["segment"])
        assert pairs.size == 40 and "score" in pairs._a.field_names
        first = next(iter(pairs.tasks())).read()
    assert first.loc[0, "case_id"] == record["id"] and first.loc[0, "output_a"] == record["output"]


def test_file_b_indexed_in_a_worker_process_pairs_as_before(tmp_path):
    a, b = write_files(tmp_path, 1200, seed=9)
    with a.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=(a.name, b.name), segment_fields=["segment"], parallel=True)
        assert report(pairs, workers=2) == expected("command_id")
    lines = b.read_text().splitlines()
    b.write_text("\n".join([*lines, lines[4]]) + "\n")
    with a.open("rb") as fa, b.open("rb") as fb, pytest.raises(AnswerFileError, match=r"b.jsonl record 1201: id"):
        pair_files(fa, fb, names=(a.name, b.name), parallel=True)
    b.write_text("\n".join([*lines, "[1]"]) + "\n")
    with a.open("rb") as fa, b.open("rb") as fb, pytest.raises(AnswerFileError, match=r"b.jsonl line 1201: a JSON"):
        pair_files(fa, fb, names=(a.name, b.name), parallel=True)


def test_a_file_changed_after_it_was_indexed_is_named(tmp_path):
    a, b = write_files(tmp_path, 40, seed=3)
    with a.open("rb") as fa, b.open("rb") as fb:
        pairs = pair_files(fa, fb, names=(a.name, b.name))
        task = next(iter(pairs.tasks()))
        b.write_text(b.read_text() + "\n")
        with pytest.raises(AnswerFileError, match=r"b.jsonl: the file changed while it was being compared"):
            task.read()
