"""Two answer files paired without holding their texts: the quick compare's and the benchmark's path.

The same layouts, rules and messages as ``answers.read_answers`` / ``pair_answers``, in two passes over seekable
files. The first reads every record once, checks it, and keeps per record only its byte position and hashed keys
(id, instruction text, sample) in compact arrays; pairing is then a sort of those keys. The second pass is the
engine's stream (a ``PairSource``): chunk by chunk each pair's two records are read again at their positions,
and the engine keeps their metrics, not their texts. With worker processes the chunks go to them as positions
(``FilePairs.tasks``, ``ChunkTask``) and each worker reads, decodes and measures its records itself; where it
cannot (a JSON array, an upload held in memory, a prompts file to look up) this process reads them. JSON Lines
and CSV are read record by record; a JSON array is parsed whole (write JSON Lines for large files).
"""

from __future__ import annotations

import csv
import io
import json
import os
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np
import pandas as pd

from diagnostics.behaviour.answers import (
    AnswerFileError,
    AnswerRecord,
    _answer,
    _jsonl_record,
    _keys,
    _records,
    _scalar,
    _text,
    pairing_note,
)
from diagnostics.behaviour.engine import CHUNK_PAIRS, process_pool

_HASH_BATCH = 8192
# From this many bytes of answers (about 50,000 pairs), file B is indexed in another process while this one
# indexes file A (which also starts the server the measuring workers are forked from).
PARALLEL_INDEX_BYTES = 64 << 20


def _hashes(texts: list[str]) -> np.ndarray:
    return pd.util.hash_array(np.array(texts, dtype=object)) if texts else np.zeros(0, dtype=np.uint64)


def _layout(handle: IO[bytes], filename: str) -> tuple[str, int]:
    """csv, array or jsonl (as ``answers`` tells them apart), and where the text starts (after a BOM)."""
    handle.seek(0)
    head = handle.read(4096)
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    stripped = head[start:].lstrip()
    while not stripped:
        more = handle.read(1 << 20)
        if not more:
            raise AnswerFileError(f"{filename}: the file is empty.")
        stripped = more.lstrip()
    first = stripped[:1]
    if filename.lower().endswith(".csv") or first not in (b"[", b"{"):
        return "csv", start
    return ("array" if first == b"[" else "jsonl"), start


def _records_of(handle: IO[bytes], filename: str, layout: str, start: int) -> Iterator[tuple[int, dict, int, int]]:
    """(number, record, byte offset, byte length) of every record; offset -1 for a JSON array's items."""
    if layout == "csv":
        yield from _csv_records(handle, filename, start)
    elif layout == "array":
        handle.seek(0)
        for number, record in _records(handle.read(), filename):
            yield number, record, -1, 0
    else:
        yield from _jsonl_records(handle, filename, start)


def _decoded(line: bytes, offset: int, filename: str) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnswerFileError(f"{filename}: not UTF-8 (byte {offset + exc.start + 1}); save it as UTF-8.") from None


def _json_object(raw: bytes) -> Any:
    """A JSON document decoded by msgspec (several times faster than json); json's decoder where msgspec refuses
    what json takes (NaN, numbers out of range, lone surrogates). Invalid JSON raises either's error."""
    try:
        return msgspec.json.decode(raw)
    except msgspec.MsgspecError:
        return json.loads(raw.decode("utf-8"))


def _checked_line(raw: bytes, offset: int, number: int, filename: str) -> dict | None:
    """One JSON Lines record read as ``answers.read_answers`` reads it (its messages); None for a blank line."""
    return _jsonl_record(_decoded(raw, offset, filename), number, filename)


def _jsonl_records(handle: IO[bytes], filename: str, start: int) -> Iterator[tuple[int, dict, int, int]]:
    handle.seek(start)
    offset = start
    for number, raw in enumerate(handle, start=1):
        length = len(raw)
        record = None
        if raw.strip():
            # The fast decoder takes valid UTF-8 JSON only; anything it refuses is read again the careful way,
            # which gives the same record or the message naming what is wrong.
            try:
                record = msgspec.json.decode(raw)
            except msgspec.MsgspecError:
                record = _checked_line(raw, offset, number, filename)
            else:
                if not isinstance(record, dict):
                    record = _checked_line(raw, offset, number, filename)
        if record is not None:
            yield number, record, offset, length
        offset += length


class _Lines:
    """Decoded lines of a CSV file for ``csv.reader``, remembering where the current record started."""

    def __init__(self, handle: IO[bytes], filename: str, start: int):
        handle.seek(start)
        self.handle, self.filename, self.position = handle, filename, start

    def __iter__(self):
        for raw in self.handle:
            line = _decoded(raw, self.position, self.filename)
            self.position += len(raw)
            yield line


def _csv_records(handle: IO[bytes], filename: str, start: int) -> Iterator[tuple[int, dict, int, int]]:
    csv.field_size_limit(1 << 30)
    lines = _Lines(handle, filename, start)
    reader = csv.DictReader(iter(lines))
    try:
        if reader.fieldnames is None:
            raise AnswerFileError(f"{filename}: no CSV header row.")
        begin = lines.position
        for row in reader:
            yield reader.line_num, dict(row), begin, lines.position - begin
            begin = lines.position
    except csv.Error as exc:
        raise AnswerFileError(f"{filename} line {reader.line_num}: not valid CSV ({exc}).") from None


@dataclass(frozen=True)
class _Side:
    """How to read one file's records again: small enough to hand to a worker process with each chunk."""

    filename: str
    path: str | None  # None for an upload held in memory (read in this process only)
    text_field: str | None
    id_field: str | None
    csv_header: list[str] | None = None
    stamp: tuple[int, ...] | None = None  # the indexed file's device, inode, size and modification time

    def open(self) -> IO[bytes]:
        """The indexed file, opened again by its path; ``AnswerFileError`` if it is no longer that file (the
        positions would point into other records)."""
        handle = open(self.path, "rb")  # noqa: SIM115 (returned open; the caller closes it)
        if _stamp(handle) != self.stamp:
            handle.close()
            raise AnswerFileError(f"{self.filename}: the file changed while it was being compared; compare again.")
        return handle

    def raw(self, handle: IO[bytes], offset: int, length: int) -> dict:
        data = _read_at(handle, offset, length)
        if self.csv_header is not None:
            text = data.decode("utf-8")
            return dict(next(csv.DictReader(io.StringIO(text), fieldnames=self.csv_header)))
        return _json_object(data)


@dataclass
class _Index:
    """One answer file, record by record: where each is, and its hashed keys; never its text."""

    filename: str
    handle: IO[bytes]
    text_field: str | None
    id_field: str | None
    number: array = field(default_factory=lambda: array("q"))
    offset: array = field(default_factory=lambda: array("q"))
    length: array = field(default_factory=lambda: array("q"))
    sample: array = field(default_factory=lambda: array("q"))
    id_hash: list[np.ndarray] = field(default_factory=list)
    text_hash: list[np.ndarray] = field(default_factory=list)  # the stripped instruction
    short_hash: list[np.ndarray] = field(default_factory=list)  # the case name an instruction gets
    has_id: bool = True
    first_without_instruction: int | None = None
    generators: set[str] = field(default_factory=set)
    field_names: set[str] = field(default_factory=set)
    items: list[dict] | None = None  # a JSON array's records, parsed whole
    csv_header: list[str] | None = None
    path: str | None = None  # the file on disk the handle reads, which a worker process can open itself
    stamp: tuple[int, ...] | None = None

    @property
    def side(self) -> _Side:
        return _Side(self.filename, self.path, self.text_field, self.id_field, self.csv_header, self.stamp)

    def raw(self, i: int) -> dict:
        """Record ``i`` (0-based, in file order) as decoded, read again from its position."""
        if self.items is not None:
            return self.items[i]
        return self.side.raw(self.handle, self.offset[i], self.length[i])

    def record(self, i: int) -> AnswerRecord:
        """Record ``i`` read again and checked."""
        return _answer(self.number[i], self.raw(i), self.filename, self.text_field, self.id_field)


def _read_at(handle: IO[bytes], offset: int, length: int) -> bytes:
    try:
        return os.pread(handle.fileno(), length, offset)  # one call, and the handle's position stays put
    except (AttributeError, OSError, io.UnsupportedOperation):  # an upload held in memory
        handle.seek(offset)
        return handle.read(length)


def _stamp(handle: IO[bytes]) -> tuple[int, ...]:
    info = os.fstat(handle.fileno())
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _path_of(handle: IO[bytes]) -> str | None:
    """The path of the file a handle reads, when another process can open the same file by it."""
    name = getattr(handle, "name", None)
    if not isinstance(name, str):
        return None
    try:
        here, there = os.fstat(handle.fileno()), os.stat(name)
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return None
    return os.path.abspath(name) if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino) else None


def index_answers(
    handle: IO[bytes], filename: str, text_field: str | None = None, id_field: str | None = None
) -> _Index:
    """Every record of an answer file read and checked once (the messages of ``read_answers``), kept as positions
    and hashed keys."""
    index = _Index(filename=filename, handle=handle, text_field=text_field, id_field=id_field)
    ids: list[str] = []
    texts: list[str] = []
    shorts: list[str] = []

    def flush() -> None:
        index.id_hash.append(_hashes(ids))
        index.text_hash.append(_hashes(texts))
        index.short_hash.append(_hashes(shorts))
        ids.clear(), texts.clear(), shorts.clear()

    items: list[dict] = []
    names = index.field_names
    layout, start = _layout(handle, filename)
    for number, raw, offset, length in _records_of(handle, filename, layout, start):
        # The checks of ``answers._answer``, without keeping the text or building the record's fields.
        _text(number, raw, filename, text_field)
        record_id, instruction, generator, sample = _keys(number, raw, filename, id_field)
        index.number.append(number)
        index.offset.append(offset)
        index.length.append(length)
        index.sample.append(sample)
        if offset < 0:
            items.append(raw)
        if record_id is None:
            index.has_id = False
        if not instruction and index.first_without_instruction is None:
            index.first_without_instruction = number
        if generator and len(index.generators) < 2:
            index.generators.add(generator)
        for name in raw.keys() - names:  # the field names every record shares are looked at once
            if _scalar(raw[name]) is not None:
                names.add(name)
        ids.append(record_id or "")
        texts.append((instruction or "").strip())
        shorts.append(" ".join((instruction or "").split())[:120])
        if len(ids) >= _HASH_BATCH:
            flush()
    flush()
    if not index.number:
        raise AnswerFileError(f"{filename}: the file holds no answers.")
    if layout == "array":
        index.items = items
    else:
        index.path = _path_of(handle)
        index.stamp = _stamp(handle) if index.path is not None else None
        if layout == "csv":
            handle.seek(start)
            index.csv_header = csv.DictReader(iter(_Lines(handle, filename, start))).fieldnames
    return index


def _combined(keys: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """One 64-bit key per (key, sample)."""
    with np.errstate(over="ignore"):
        return keys ^ (sample.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019))


_COLUMNS = ["case_id", "sample", "output_a", "output_b", "prompt"]


@dataclass(frozen=True)
class _Rows:
    """The engine's row of a pair from its two decoded records (as ``answers.pair_answers`` builds it)."""

    a: _Side
    b: _Side
    by: str
    fields: list[str]
    prompts: dict[str, dict[str, str]]

    def row(self, number_a: int, ra: dict, number_b: int, rb: dict, suffix: int, found: dict | None) -> dict:
        text_a = _text(number_a, ra, self.a.filename, self.a.text_field)
        text_b = _text(number_b, rb, self.b.filename, self.b.text_field)
        id_a, instruction_a, _, sample_a = _keys(number_a, ra, self.a.filename, self.a.id_field)
        text_key = f"text:{(instruction_a or '').strip()}"
        key = f"id:{id_a}" if self.by == "id" else text_key
        prompt = self.prompts.get(key) or self.prompts.get(text_key) or {}
        if self.by == "id":
            case_id = id_a
        else:
            short = " ".join((instruction_a or "").split())[:120]
            case_id = short if suffix == 1 else f"{short} [{suffix}]"
        row: dict[str, Any] = {
            "case_id": case_id,
            "sample": sample_a,
            "output_a": text_a,
            "output_b": text_b,
            # B's instruction only where A has none (both records were checked when indexed).
            "prompt": instruction_a or _keys(number_b, rb, self.b.filename, self.b.id_field)[1] or prompt.get("prompt"),
        }
        for name in self.fields:
            # A record's field counts when it is a scalar (``AnswerRecord.fields``); side A first.
            value = _scalar(ra.get(name))
            if value is None:
                value = _scalar(rb.get(name))
            if value is None:
                value = prompt.get(name)
            if value is not None and found is not None:
                found[name] = found.get(name, 0) + 1
            row[name] = value
        return row

    def frame(self, rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=[*_COLUMNS, *self.fields])


@dataclass
class ChunkTask:
    """One chunk of pairs as positions in the two files: a worker process reads, decodes and measures the
    records itself, so the texts never pass through the process that paired them."""

    rows: _Rows
    number_a: np.ndarray
    offset_a: np.ndarray
    length_a: np.ndarray
    number_b: np.ndarray
    offset_b: np.ndarray
    length_b: np.ndarray
    suffix: np.ndarray

    @property
    def size(self) -> int:
        return len(self.suffix)

    def read(self) -> pd.DataFrame:
        """The chunk's frame (texts included), read from the files."""
        out = []
        with self.rows.a.open() as fa, self.rows.b.open() as fb:
            for p in range(self.size):
                ra = self.rows.a.raw(fa, int(self.offset_a[p]), int(self.length_a[p]))
                rb = self.rows.b.raw(fb, int(self.offset_b[p]), int(self.length_b[p]))
                na, nb = int(self.number_a[p]), int(self.number_b[p])
                out.append(self.rows.row(na, ra, nb, rb, int(self.suffix[p]), None))
        return self.rows.frame(out)


class FilePairs:
    """Two answer files paired (by id when every record of both has one, else by instruction text), as the
    engine's ``PairSource``. Built by ``pair_files``."""

    def __init__(self, a: _Index, b: _Index, rows_a, rows_b, suffix, by, prompts, fields, names, labels):
        self._a, self._b = a, b
        self._rows_a, self._rows_b, self._suffix = rows_a, rows_b, suffix
        self.by, self._prompts, self._fields = by, prompts or {}, fields
        self._builder = _Rows(a.side, b.side, by, list(fields), self._prompts)
        self.size = len(rows_a)
        self.only_a = len(a.number) - self.size
        self.only_b = len(b.number) - self.size
        self.label_a, self.label_b = labels
        self._names = names
        self._found: dict[str, int] = {}

    @property
    def note(self) -> str:
        return pairing_note(self.size, self.by, self.only_a, self.only_b, self.label_a, self.label_b)

    def _row(self, p: int, found: dict[str, int] | None = None) -> dict[str, Any]:
        i, j = int(self._rows_a[p]), int(self._rows_b[p])
        ra, rb = self._a.raw(i), self._b.raw(j)
        return self._builder.row(self._a.number[i], ra, self._b.number[j], rb, int(self._suffix[p]), found)

    def _frame(self, rows: list[dict]) -> pd.DataFrame:
        return self._builder.frame(rows)

    def _check_found(self, found: dict[str, int]) -> None:
        absent = [name for name in self._fields if not found.get(name)]
        if absent:
            raise AnswerFileError(
                f"Segment field(s) {', '.join(absent)} are in neither the answer records nor the prompts file."
            )

    def chunks(self) -> Iterator[pd.DataFrame]:
        found: dict[str, int] = {}
        for start in range(0, self.size, CHUNK_PAIRS):
            yield self._frame([self._row(p, found) for p in range(start, min(self.size, start + CHUNK_PAIRS))])
        self._check_found(found)

    def tasks(self) -> Iterator[ChunkTask] | None:
        """The chunks as positions for worker processes to read (``ChunkTask``), or None when they cannot:
        a JSON array is parsed whole and an upload held in memory has no path, so their texts are read here
        (``chunks``); a prompts file is looked up here too rather than sent with every chunk. ``seen`` then
        gets every chunk's frame back, without its texts, and ``tasks_done`` checks the segment fields."""
        if self._a.path is None or self._b.path is None or self._prompts:
            return None
        self._found = {}
        return self._tasks()

    def _tasks(self) -> Iterator[ChunkTask]:
        a, b = self._a, self._b
        number_a, offset_a, length_a = (np.frombuffer(x, dtype=np.int64) for x in (a.number, a.offset, a.length))
        number_b, offset_b, length_b = (np.frombuffer(x, dtype=np.int64) for x in (b.number, b.offset, b.length))
        for start in range(0, self.size, CHUNK_PAIRS):
            part = slice(start, min(self.size, start + CHUNK_PAIRS))
            i, j = self._rows_a[part], self._rows_b[part]
            yield ChunkTask(
                self._builder, number_a[i], offset_a[i], length_a[i], number_b[j], offset_b[j], length_b[j],
                self._suffix[part],
            )  # fmt: skip

    def seen(self, chunk: pd.DataFrame) -> None:
        for name in self._fields:
            self._found[name] = self._found.get(name, 0) + int(chunk[name].notna().sum())

    def tasks_done(self) -> None:
        self._check_found(self._found)

    def rows(self, positions: Sequence[int]) -> pd.DataFrame:
        return self._frame([self._row(int(p)) for p in positions])

    def frame(self) -> pd.DataFrame:
        """Every pair with its texts (for the preference judge, which reads them all)."""
        return pd.concat(list(self.chunks()), ignore_index=True) if self.size else self._frame([])


def _first_repeat(index: _Index, keys: np.ndarray) -> tuple[int, int] | None:
    """(record, earlier record) of the first key that repeats, in file order."""
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(keys[order][1:] == keys[order][:-1]) + 1
    if repeated.size == 0:
        return None
    later = order[repeated]
    i = int(later.min())
    earlier = int(order[np.searchsorted(keys[order], keys[i])])
    return i, earlier


def pair_files(
    a: IO[bytes],
    b: IO[bytes],
    *,
    names: tuple[str, str],
    text_field: str | None = None,
    id_field: str | None = None,
    prompts: dict[str, dict[str, str]] | None = None,
    segment_fields: list[str] | None = None,
    labels: tuple[str | None, str | None] = (None, None),
    parallel: bool | None = None,
) -> FilePairs:
    """Index both files (every record checked, as ``read_answers`` does) and pair them as ``pair_answers``
    does; raises ``AnswerFileError`` with the same messages. The handles must stay open while the pairs are read.
    ``parallel``: index file B in a worker process meanwhile (default: from ``PARALLEL_INDEX_BYTES``)."""
    sides = _index_both(a, b, names, text_field, id_field, parallel)
    return pair_indexes(*sides, prompts=prompts, segment_fields=segment_fields, labels=labels)


def _size(handle: IO[bytes]) -> int:
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return 0


def _index_path(path: str, filename: str, text_field: str | None, id_field: str | None) -> _Index:
    """A file indexed in a worker process; its handle stays there (the caller sets its own)."""
    with open(path, "rb") as handle:
        index = index_answers(handle, filename, text_field, id_field)
    index.handle = None
    return index


def _index_both(a, b, names, text_field, id_field, parallel: bool | None) -> list[_Index]:
    """Both files indexed, A then B, or B in a worker process meanwhile; an error of A is the one raised first,
    as when they are read one after the other."""
    path_b = _path_of(b)
    if parallel is None:
        parallel = _size(a) + _size(b) >= PARALLEL_INDEX_BYTES and (os.cpu_count() or 1) > 1
    pool = process_pool(1) if parallel and path_b is not None else None
    if pool is None:
        return [index_answers(handle, name, text_field, id_field) for handle, name in zip((a, b), names, strict=True)]
    try:
        future = pool.submit(_index_path, path_b, names[1], text_field, id_field)
        index_a = index_answers(a, names[0], text_field, id_field)
        index_b = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    index_b.handle = b
    return [index_a, index_b]


def pair_indexes(
    index_a: _Index,
    index_b: _Index,
    *,
    prompts: dict[str, dict[str, str]] | None = None,
    segment_fields: list[str] | None = None,
    labels: tuple[str | None, str | None] = (None, None),
) -> FilePairs:
    """Two indexed files paired as ``pair_answers`` pairs them (same messages)."""
    sides = [index_a, index_b]
    names = (index_a.filename, index_b.filename)
    by = "id" if sides[0].has_id and sides[1].has_id else "instruction"
    if by == "instruction":
        for name, side in zip(names, sides, strict=True):
            if side.first_without_instruction is not None:
                raise AnswerFileError(
                    f"{name} record {side.first_without_instruction}: no id and no instruction; "
                    "answers are paired by id or by instruction text."
                )
    keys, combined = [], []
    for name, side in zip(names, sides, strict=True):
        key = np.concatenate(side.id_hash if by == "id" else side.text_hash)
        side.id_hash, side.text_hash = [], []
        both = _combined(key, np.frombuffer(side.sample, dtype=np.int64))
        repeat = _first_repeat(side, both)
        if repeat is not None:
            later, earlier = side.record(repeat[0]), side.record(repeat[1])
            what = f"id {later.id!r}" if by == "id" else f"instruction {(later.instruction or '')[:60]!r}"
            sample = f" sample {later.sample}" if later.sample else ""
            raise AnswerFileError(
                f"{name} record {later.number}: {what}{sample} already appears in record {earlier.number}."
            )
        keys.append(key)
        combined.append(both)
    order_b = np.argsort(combined[1], kind="stable")
    sorted_b = combined[1][order_b]
    at = np.minimum(np.searchsorted(sorted_b, combined[0]), max(sorted_b.size - 1, 0))
    matched = sorted_b[at] == combined[0] if sorted_b.size else np.zeros(combined[0].size, dtype=bool)
    rows_a = np.flatnonzero(matched)
    if rows_a.size == 0:
        raise AnswerFileError(
            f"No answer of {names[0]} pairs with one of {names[1]} (paired by {by}); are they answers to the same prompts?"
        )
    rows_b = order_b[at[rows_a]]
    fields = list(segment_fields or [])
    known = sides[0].field_names | sides[1].field_names | {k for p in (prompts or {}).values() for k in p}
    absent = [name for name in fields if name not in known]
    if absent:
        raise AnswerFileError(
            f"Segment field(s) {', '.join(absent)} are in neither the answer records nor the prompts file."
        )
    suffix = np.ones(rows_a.size, dtype=np.int32)
    if by == "instruction":
        # Two instructions may share their first 120 characters: the later case gets " [2]", " [3]"...
        short = np.concatenate(sides[0].short_hash)[rows_a]
        key = keys[0][rows_a]
        _, first = np.unique(key, return_index=True)
        first = np.sort(first)  # each case's first pair, in pairing order
        by_short = first[np.lexsort((first, short[first]))]
        groups = short[by_short]
        starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
        rank = np.arange(by_short.size) - np.repeat(starts, np.diff(np.r_[starts, by_short.size]))
        cases, of_pair = np.unique(key, return_inverse=True)
        number_of_case = np.ones(cases.size, dtype=np.int32)
        number_of_case[np.searchsorted(cases, key[by_short])] = rank + 1
        suffix = number_of_case[of_pair]
    for side in sides:
        side.short_hash = []
    label_a = labels[0] or _label(sides[0], names[0])
    label_b = labels[1] or _label(sides[1], names[1])
    if label_a == label_b:
        label_a, label_b = f"{label_a} ({names[0]})", f"{label_b} ({names[1]})"
    return FilePairs(sides[0], sides[1], rows_a, rows_b, suffix, by, prompts, fields, names, (label_a, label_b))


def _label(index: _Index, fallback: str) -> str:
    return next(iter(index.generators)) if len(index.generators) == 1 else fallback


def open_answer_file(path: str | Path) -> tuple[IO[bytes], str]:
    path = Path(path)
    try:
        return path.open("rb"), path.name
    except OSError as exc:
        raise AnswerFileError(f"{path}: cannot be read ({exc.strerror}).") from None
