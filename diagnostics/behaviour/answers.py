"""Answer files as the public benchmarks and eval tools write them, read into one record shape and paired.

Layouts: JSON Lines, a JSON array, or CSV (UTF-8; a BOM is skipped). Each record gives:

- the answer: ``text_field`` if named, else the first of ``output``, ``completion``, ``response``, ``answer``; else
  an Arena-Hard record: v0.1 ``messages[...]`` (the assistant message's ``content.answer``, or its ``content`` when
  that is a string) or ``choices[0].turns[0]`` (a string, or ``{"content": ...}``);
- the id: ``id_field`` if named, else the first of ``id``, ``case_id``, ``question_id``, ``uid``;
- the instruction: ``instruction``, ``prompt``, ``question`` or ``input`` (AlpacaEval ``model_outputs.json`` has
  ``instruction``, ``output``, ``generator``, ``dataset``), or the user message of an Arena-Hard record;
- the generator: ``generator``, ``model`` or ``model_id``; every other scalar field is kept for segments.

Two files are paired by id when every record of both has one, otherwise by instruction text. Pure Python and
pandas: the management commands and the compare page share it.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TEXT_FIELDS = ("output", "completion", "response", "answer")
ID_FIELDS = ("id", "case_id", "question_id", "uid")
INSTRUCTION_FIELDS = ("instruction", "prompt", "question", "input")
GENERATOR_FIELDS = ("generator", "model", "model_id")


class AnswerFileError(ValueError):
    """A file that cannot be read as answers; the message names the file and the record."""


@dataclass
class AnswerRecord:
    number: int  # 1-based record number (JSONL/CSV: line of the record)
    id: str | None
    instruction: str | None
    text: str
    generator: str | None
    sample: int = 0
    fields: dict[str, str] = field(default_factory=dict)


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _content(value: Any) -> str | None:
    """A message content: a string, or an object holding ``answer`` or ``content``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("answer", "content", "text"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


def _arena_text(record: dict) -> str | None:
    messages = record.get("messages")
    if isinstance(messages, list):
        replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        if not replies and len(messages) > 1 and isinstance(messages[1], dict):
            replies = [messages[1]]
        if replies:
            return _content(replies[-1].get("content"))
    choices = record.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns:
            return _content(turns[0])
    return None


def _arena_instruction(record: dict) -> str | None:
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user":
                return _content(message.get("content"))
    turns = record.get("turns")
    if isinstance(turns, list) and turns:
        return _content(turns[0])
    return None


def _first(record: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def _records(data: bytes, filename: str) -> list[tuple[int, dict]]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise AnswerFileError(f"{filename}: not UTF-8 (byte {exc.start + 1}); save it as UTF-8.") from None
    stripped = text.lstrip()
    if not stripped:
        raise AnswerFileError(f"{filename}: the file is empty.")
    if filename.lower().endswith(".csv") or stripped[0] not in "[{":
        csv.field_size_limit(1 << 30)
        reader = csv.DictReader(io.StringIO(text))
        try:
            rows = [(reader.line_num, dict(row)) for row in reader]
        except csv.Error as exc:
            raise AnswerFileError(f"{filename} line {reader.line_num}: not valid CSV ({exc}).") from None
        if reader.fieldnames is None:
            raise AnswerFileError(f"{filename}: no CSV header row.")
        return rows
    if stripped[0] == "[":
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnswerFileError(f"{filename}: not a valid JSON array ({exc.msg}, line {exc.lineno}).") from None
        bad = next((i for i, r in enumerate(array, start=1) if not isinstance(r, dict)), None)
        if bad is not None:
            raise AnswerFileError(f"{filename}: item {bad} of the array is not a JSON object.")
        return list(enumerate(array, start=1))
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        record = _jsonl_record(line, number, filename)
        if record is not None:
            rows.append((number, record))
    return rows


def _jsonl_record(line: str, number: int, filename: str) -> dict | None:
    """One JSON Lines record, checked (a JSON object); None for a blank line."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AnswerFileError(f"{filename} line {number}: not valid JSON ({exc.msg}).") from None
    if not isinstance(record, dict):
        raise AnswerFileError(f"{filename} line {number}: a JSON object is needed, not {type(record).__name__}.")
    return record


def _text(number: int, record: dict, filename: str, text_field: str | None) -> str:
    """The answer of a record (see the module doc); ``AnswerFileError`` when it has none."""
    if text_field:
        text = _content(record.get(text_field))
    else:
        text = _content(_first(record, TEXT_FIELDS)) or _arena_text(record)
    if text is None:
        wanted = f"`{text_field}`" if text_field else "output, completion, response, answer or an Arena-Hard answer"
        raise AnswerFileError(f"{filename} record {number}: no answer text ({wanted}).")
    return text


def _keys(
    number: int, record: dict, filename: str, id_field: str | None
) -> tuple[str | None, str | None, str | None, int]:
    """(id, instruction, generator, sample) of a record, checked; what pairing needs, without its other fields."""
    raw_id = record.get(id_field) if id_field else _first(record, ID_FIELDS)
    if id_field and raw_id in (None, ""):
        raise AnswerFileError(f"{filename} record {number}: no `{id_field}`.")
    sample = record.get("sample")
    try:
        sample = int(sample) if sample not in (None, "") else 0
    except (TypeError, ValueError):
        raise AnswerFileError(f"{filename} record {number}: sample must be a whole number.") from None
    instruction = _scalar(_first(record, INSTRUCTION_FIELDS)) or _arena_instruction(record)
    generator = _scalar(_first(record, GENERATOR_FIELDS))
    return (None if raw_id in (None, "") else str(raw_id)), instruction, generator, sample


def _answer(number: int, record: dict, filename: str, text_field: str | None, id_field: str | None) -> AnswerRecord:
    text = _text(number, record, filename, text_field)
    record_id, instruction, generator, sample = _keys(number, record, filename, id_field)
    fields = {k: v for k, v in ((k, _scalar(v)) for k, v in record.items()) if v is not None}
    return AnswerRecord(
        number=number,
        id=record_id,
        instruction=instruction,
        text=text,
        generator=generator,
        sample=sample,
        fields=fields,
    )


def read_answers(
    data: bytes, *, filename: str, text_field: str | None = None, id_field: str | None = None
) -> list[AnswerRecord]:
    """Every record of an answer file (see the module doc); raises ``AnswerFileError`` naming the record."""
    out = [_answer(number, record, filename, text_field, id_field) for number, record in _records(data, filename)]
    if not out:
        raise AnswerFileError(f"{filename}: the file holds no answers.")
    return out


def read_prompts(data: bytes, *, filename: str, id_field: str | None = None) -> dict[str, dict[str, str]]:
    """A prompts file (e.g. Arena-Hard ``question.jsonl``): fields per id, and per instruction text as well."""
    out: dict[str, dict[str, str]] = {}
    for number, record in _records(data, filename):
        fields = {k: v for k, v in ((k, _scalar(v)) for k, v in record.items()) if v is not None}
        key = record.get(id_field) if id_field else _first(record, ID_FIELDS)
        instruction = _scalar(_first(record, INSTRUCTION_FIELDS)) or _arena_instruction(record)
        if key in (None, "") and not instruction:
            raise AnswerFileError(f"{filename} record {number}: neither an id nor a prompt to pair by.")
        if key not in (None, ""):
            out[f"id:{key}"] = fields
        if instruction:
            out[f"text:{instruction.strip()}"] = fields
    return out


def side_label(records: list[AnswerRecord], fallback: str) -> str:
    """What a side is: its one generator when the file names one, else the fallback (the file name)."""
    generators = {r.generator for r in records if r.generator}
    return generators.pop() if len(generators) == 1 else fallback


@dataclass
class Pairing:
    frame: pd.DataFrame
    by: str  # "id" or "instruction"
    only_a: int
    only_b: int
    label_a: str
    label_b: str

    @property
    def note(self) -> str:
        return pairing_note(len(self.frame), self.by, self.only_a, self.only_b, self.label_a, self.label_b)


def pairing_note(pairs: int, by: str, only_a: int, only_b: int, label_a: str, label_b: str) -> str:
    """One line on what was paired and what was left out."""
    unpaired = []
    if only_a:
        unpaired.append(f"{only_a} answer(s) only in {label_a}")
    if only_b:
        unpaired.append(f"{only_b} answer(s) only in {label_b}")
    tail = f"; left out: {', '.join(unpaired)}" if unpaired else ""
    return f"{pairs} answer pairs, paired by {by}{tail}"


def _key(record: AnswerRecord, by: str) -> str:
    return f"id:{record.id}" if by == "id" else f"text:{(record.instruction or '').strip()}"


def _keyed(records: list[AnswerRecord], by: str, name: str) -> dict[tuple[str, int], AnswerRecord]:
    out: dict[tuple[str, int], AnswerRecord] = {}
    for record in records:
        key = (_key(record, by), record.sample)
        if key in out:
            what = f"id {record.id!r}" if by == "id" else f"instruction {(record.instruction or '')[:60]!r}"
            sample = f" sample {record.sample}" if record.sample else ""
            raise AnswerFileError(
                f"{name} record {record.number}: {what}{sample} already appears in record {out[key].number}."
            )
        out[key] = record
    return out


def pair_answers(
    a: list[AnswerRecord],
    b: list[AnswerRecord],
    *,
    prompts: dict[str, dict[str, str]] | None = None,
    segment_fields: list[str] | None = None,
    names: tuple[str, str] = ("A", "B"),
    labels: tuple[str | None, str | None] = (None, None),
) -> Pairing:
    """The engine's frame (case_id, sample, output_a, output_b, prompt, segment columns) from two answer files.

    Segment values come from the answer records (side A first) or the prompts file; a field found nowhere is an
    error. Raises ``AnswerFileError`` when nothing pairs or a key repeats.
    """
    by = "id" if all(r.id for r in a) and all(r.id for r in b) else "instruction"
    if by == "instruction":
        missing = [(names[i], r.number) for i, side in enumerate((a, b)) for r in side if not r.instruction]
        if missing:
            name, number = missing[0]
            raise AnswerFileError(
                f"{name} record {number}: no id and no instruction; answers are paired by id or by instruction text."
            )
    keyed_a, keyed_b = _keyed(a, by, names[0]), _keyed(b, by, names[1])
    shared = [key for key in keyed_a if key in keyed_b]
    if not shared:
        raise AnswerFileError(
            f"No answer of {names[0]} pairs with one of {names[1]} (paired by {by}); are they answers to the same prompts?"
        )
    fields = list(segment_fields or [])
    rows = []
    found: Counter[str] = Counter()
    case_ids: Counter[str] = Counter()
    names_of: dict[str, str] = {}
    for key in shared:
        ra, rb = keyed_a[key], keyed_b[key]
        prompt = (prompts or {}).get(key[0]) or (prompts or {}).get(f"text:{(ra.instruction or '').strip()}") or {}
        if key[0] not in names_of:
            short = ra.id if by == "id" else " ".join((ra.instruction or "").split())[:120]
            case_ids[short] += 1  # two instructions may share their first 120 characters
            names_of[key[0]] = short if case_ids[short] == 1 else f"{short} [{case_ids[short]}]"
        case_id = names_of[key[0]]
        row: dict[str, Any] = {
            "case_id": case_id,
            "sample": key[1],
            "output_a": ra.text,
            "output_b": rb.text,
            "prompt": ra.instruction or rb.instruction or prompt.get("prompt"),
        }
        for name in fields:
            value = ra.fields.get(name, rb.fields.get(name, prompt.get(name)))
            if value is not None:
                found[name] += 1
            row[name] = value
        rows.append(row)
    absent = [name for name in fields if not found[name]]
    if absent:
        raise AnswerFileError(
            f"Segment field(s) {', '.join(absent)} are in neither the answer records nor the prompts file."
        )
    label_a = labels[0] or side_label(a, names[0])
    label_b = labels[1] or side_label(b, names[1])
    if label_a == label_b:
        label_a, label_b = f"{label_a} ({names[0]})", f"{label_b} ({names[1]})"
    return Pairing(
        frame=pd.DataFrame(rows, columns=["case_id", "sample", "output_a", "output_b", "prompt", *fields]),
        by=by,
        only_a=len(set(keyed_a) - set(keyed_b)),
        only_b=len(set(keyed_b) - set(keyed_a)),
        label_a=label_a,
        label_b=label_b,
    )


def read_file(path: str | Path) -> tuple[bytes, str]:
    path = Path(path)
    try:
        return path.read_bytes(), path.name
    except OSError as exc:
        raise AnswerFileError(f"{path}: cannot be read ({exc.strerror}).") from None
