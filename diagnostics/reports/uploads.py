"""Streaming readers for prompt-set and output files (JSONL or CSV), one line at a time.

Every problem names the line it is on, so a 100k-line file with one bad line is fixable. The readers are
generators: callers write rows in chunks as they go and roll back if a later line turns out bad.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError

from core import limits

MAX_PROBLEMS = 20
CASE_ID_MAX = 200
CASE_KEYS = {"case_id", "id", "input", "prompt", "expected", "expected_output", "schema", "json_schema", "segments"}
OUTPUT_KEYS = {"case_id", "id", "output", "sample", "latency_ms", "cost"}


class FileProblems(ValidationError):
    """A ValidationError on one form/API field with line-numbered messages."""

    def __init__(self, field_name: str, messages: list[str]):
        self.field_name = field_name
        self.problems = messages
        super().__init__({field_name: messages})


@dataclass
class Problems:
    field_name: str
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if len(self.messages) < MAX_PROBLEMS:
            self.messages.append(message)
        elif len(self.messages) == MAX_PROBLEMS:
            self.messages.append("… more problems not shown; fix these first.")

    def raise_if_any(self) -> None:
        if self.messages:
            raise FileProblems(self.field_name, self.messages)


def file_format(filename: str) -> str:
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise FileProblems("file", [f"{filename or 'The file'}: use a .jsonl or .csv file."])


def _decoded_lines(raw_lines: Iterable[bytes], field_name: str) -> Iterator[str]:
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            raise FileProblems(
                field_name,
                [
                    f"Line {number} is not valid UTF-8 (byte 0x{bad} at column {exc.start + 1}). "
                    "Save the file as UTF-8 and upload it again."
                ],
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        if "\x00" in text:
            raise FileProblems(field_name, [f"Line {number} contains a NUL character; the file is binary or damaged."])
        yield text


def read_rows(raw_lines: Iterable[bytes], *, filename: str, field_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from JSONL or CSV bytes lines; malformed lines raise with their number."""
    fmt = file_format(filename)
    lines = _decoded_lines(raw_lines, field_name)
    if fmt == "jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = limits.loads(line, limit_text=False)
            except limits.InputRejected as exc:
                raise FileProblems(field_name, [f"Line {number}: {exc}."]) from None
            except json.JSONDecodeError as exc:
                raise FileProblems(
                    field_name, [f"Line {number} is not valid JSON: {exc.msg} (at character {exc.pos + 1})."]
                ) from None
            if not isinstance(record, dict):
                raise FileProblems(field_name, [f"Line {number} must be a JSON object, not {type(record).__name__}."])
            yield number, record
        return
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise FileProblems(field_name, [f"Line 1 is not valid CSV: {exc}."]) from None
    header = [h.strip() for h in header]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileProblems(field_name, [f"Line {reader.line_num} is not valid CSV: {exc}."]) from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise FileProblems(
                field_name, [f"Line {reader.line_num} has {len(row)} columns; the header has {len(header)}."]
            )
        yield reader.line_num, dict(zip(header, row, strict=True))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class CaseRecord:
    line: int
    case_id: str
    input: str
    segments: dict[str, str]
    expected: str
    json_schema: dict | None


def read_cases(raw_lines: Iterable[bytes], *, filename: str) -> Iterator[CaseRecord]:
    """Cases: case_id (or id), input (or prompt), optional expected, schema, segments; other columns are segments.

    Row problems are collected and raised together at the end (nothing is valid until the whole file is).
    """
    problems = Problems("file")
    seen: dict[str, int] = {}
    count = 0
    for number, record in read_rows(raw_lines, filename=filename, field_name="file"):
        case_id = _text(record.get("case_id", record.get("id"))).strip()
        text = _text(record.get("input", record.get("prompt")))
        if not case_id:
            problems.add(f"Line {number}: case_id is missing.")
            continue
        if len(case_id) > CASE_ID_MAX:
            problems.add(f"Line {number}: case_id is longer than {CASE_ID_MAX} characters.")
            continue
        if case_id in seen:
            problems.add(f"Line {number}: case id {case_id!r} already appears on line {seen[case_id]}.")
            continue
        seen[case_id] = number
        if not text.strip():
            problems.add(f"Line {number}: input is empty for case {case_id!r}.")
            continue
        schema = record.get("schema", record.get("json_schema"))
        if isinstance(schema, str):
            schema = schema.strip()
            try:
                schema = json.loads(schema) if schema else None
            except json.JSONDecodeError as exc:
                problems.add(f"Line {number}: schema is not valid JSON ({exc.msg}).")
                continue
        if schema is not None:
            try:
                if not isinstance(schema, dict):
                    raise jsonschema.SchemaError("a JSON Schema must be an object")
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                problems.add(f"Line {number}: schema is not a valid JSON Schema ({exc.message}).")
                continue
        segments = record.get("segments") or {}
        if not isinstance(segments, dict):
            problems.add(f"Line {number}: segments must be an object of field -> value.")
            continue
        segments = {str(k): _text(v) for k, v in segments.items()}
        for key, value in record.items():
            if key not in CASE_KEYS and value not in (None, ""):
                segments.setdefault(str(key), _text(value))
        count += 1
        yield CaseRecord(
            line=number,
            case_id=case_id,
            input=text,
            segments=segments,
            expected=_text(record.get("expected", record.get("expected_output"))),
            json_schema=schema,
        )
    if count == 0 and not problems.messages:
        problems.add(f"{filename}: the file has no cases.")
    problems.raise_if_any()


@dataclass
class OutputRecord:
    line: int
    case_id: str
    sample: int
    text: str
    latency_ms: float | None
    cost: float | None


def _number(value: Any, name: str, number: int, problems: Problems, *, integer: bool = False) -> float | int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        parsed = int(value) if integer else float(value)
    except (TypeError, ValueError):
        problems.add(f"Line {number}: {name} must be a {'whole ' if integer else ''}number, got {value!r}.")
        return None
    if not math.isfinite(parsed):
        problems.add(f"Line {number}: {name} must be a finite number, got {value!r}.")
        return None
    if parsed < 0:
        problems.add(f"Line {number}: {name} must not be negative.")
        return None
    return parsed


def read_outputs(raw_lines: Iterable[bytes], *, filename: str, field_name: str) -> Iterator[OutputRecord]:
    """Outputs: case_id, output, optional sample (default 0), latency_ms, cost. Empty outputs are errors."""
    problems = Problems(field_name)
    seen: dict[tuple[str, int], int] = {}
    count = 0
    for number, record in read_rows(raw_lines, filename=filename, field_name=field_name):
        case_id = _text(record.get("case_id", record.get("id"))).strip()
        if not case_id:
            problems.add(f"Line {number}: case_id is missing.")
            continue
        if "output" not in record:
            problems.add(f"Line {number}: the output field is missing for case {case_id!r}.")
            continue
        text = _text(record.get("output"))
        if not text.strip():
            problems.add(f"Line {number}: output is empty for case {case_id!r}.")
            continue
        before = len(problems.messages)
        sample = _number(record.get("sample"), "sample", number, problems, integer=True) or 0
        latency = _number(record.get("latency_ms"), "latency_ms", number, problems)
        cost = _number(record.get("cost"), "cost", number, problems)
        if len(problems.messages) > before:
            continue
        key = (case_id, int(sample))
        if key in seen:
            problems.add(f"Line {number}: case {case_id!r} sample {sample} already appears on line {seen[key]}.")
            continue
        seen[key] = number
        count += 1
        yield OutputRecord(line=number, case_id=case_id, sample=int(sample), text=text, latency_ms=latency, cost=cost)
    if count == 0 and not problems.messages:
        problems.add(f"{filename}: the file has no outputs.")
    problems.raise_if_any()
