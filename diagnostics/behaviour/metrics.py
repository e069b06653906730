"""Per-output metrics and pairwise similarity, fast enough for 100k pairs on two cores.

Python's ``re`` scans a 1.5 KB answer for a dozen case-insensitive phrases in tens of microseconds, which is
seconds per metric at 100k pairs. So the work is done in chunks of a few thousand answers joined into one
string: words and marker phrases come from one numpy pass that tokenises the UTF-8 bytes and hashes each word
(phrases are matched as hashed word n-grams), structure (headings, list items, code fences) from a few
literal-prefixed regex scans over the joined chunk, and the refusal grammar (``refusal.py``: refusal, non-answer,
disclaimer) runs on the opening of each answer only (``refusal_window`` characters: refusals are announced up
front; pass ``None`` to scan whole answers). Hedging and flattery are not counted in refusal or non-answer
wording ("I'd be happy to help if you provide more context" is the tail of a refusal, not flattery).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import jsonschema
import numpy as np
import pandas as pd

from diagnostics.behaviour.refusal import DEFAULT_GRAMMAR, DEFAULT_WINDOW, Grammar, detect
from diagnostics.behaviour.words import PhraseSet, Tokens, distinct, tokenise

REFUSAL_WINDOW = DEFAULT_WINDOW

# Marker phrases, matched as whole-word sequences (case-insensitive, punctuation ignored).
HEDGING_MARKERS: tuple[str, ...] = (
    "i think",
    "i believe",
    "i'm not sure",
    "i am not sure",
    "not entirely sure",
    "it seems",
    "it appears",
    "perhaps",
    "possibly",
    "probably",
    "might",
    "may be",
    "could be",
    "it is possible",
    "it's possible",
    "it depends",
    "arguably",
    "likely",
    "generally speaking",
    "to some extent",
)
FLATTERY_MARKERS: tuple[str, ...] = (
    "great question",
    "good question",
    "excellent question",
    "fantastic question",
    "what a great",
    "you're absolutely right",
    "you are absolutely right",
    "you're right",
    "you are right",
    "i'm glad you asked",
    "thank you for asking",
    "thanks for asking",
    "happy to help",
    "i'd be happy to",
    "i would be happy to",
    "i'd be glad to",
    "insightful",
    "brilliant",
)

METRIC_COLUMNS = [
    "chars",
    "words",
    "refusal",
    "non_answer",
    "disclaimer",
    "json_valid",
    "schema_valid",
    "headings",
    "list_items",
    "code_blocks",
    "hedging",
    "flattery",
]

_CHUNK = 8192  # answers joined and tokenised at once (at most 2**16: similarity's keys hold the row in 16 bits)
_SET_BITS = 15  # 2**15 hashed word buckets per answer for similarity; ~0.5% spurious overlap at 150 words

_HEADING = re.compile(r"\n[ \t]{0,3}#{1,6}[ \t]")
_LIST_ITEM = re.compile(r"\n[ \t]*(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+\S")
_FENCE = re.compile(r"\n[ \t]{0,3}```")
_ANY_FENCE = re.compile(r"```")
_OPENS_WITH_BRACKET = re.compile(r"\x00\n\s*[\[{]")  # at an answer's start in the joined chunk
_FENCED_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


@runtime_checkable
class EmbeddingBackend(Protocol):
    """Optional semantic similarity: ``encode`` returns one vector per text (rows of a 2-D array)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _clean(texts: pd.Series | Sequence[str]) -> list[str]:
    """Plain ``str`` values, missing ones as ""."""
    if isinstance(texts, pd.Series):
        # A string-dtype series without missing values needs no per-answer check.
        if isinstance(texts.dtype, pd.StringDtype) and not texts.isna().any():
            return texts.tolist()
        values = texts.tolist()
    else:
        values = list(texts)
    if not all(type(v) is str for v in values):
        values = [v if isinstance(v, str) else "" for v in values]
    return values


def _nul_free(texts: list[str]) -> list[str]:
    """NUL separates answers in a joined chunk, so it must not occur inside one (one C-speed count per chunk)."""
    if "\x00".join(texts).count("\x00") != max(len(texts) - 1, 0):
        return [t.replace("\x00", " ") for t in texts]
    return texts


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, _CHUNK):
        yield slice(start, min(n, start + _CHUNK))


_HEDGING = PhraseSet(HEDGING_MARKERS)
_FLATTERY = PhraseSet(FLATTERY_MARKERS)


def refusal_grammar(patterns: Sequence[str] | None) -> Grammar:
    """The maintained grammar, or the caller's refusal patterns in its place (``ValueError`` for a bad regex)."""
    return DEFAULT_GRAMMAR if patterns is None else Grammar.with_refusal_patterns(patterns)


def _rows_of(positions: list[int], row_starts: np.ndarray) -> np.ndarray:
    return np.searchsorted(row_starts, np.asarray(positions, dtype=np.int64), side="right") - 1


def _structure(texts: list[str]) -> dict[str, np.ndarray]:
    """Headings, list items and fenced code blocks from literal-prefixed scans over the joined chunk."""
    lengths = np.array(list(map(len, texts)), dtype=np.int64)
    # Every answer starts right after "\x00", at a "\n" so line-anchored patterns see its first line.
    row_starts = np.concatenate([[1], 1 + np.cumsum(lengths + 2)[:-1]]) if texts else np.zeros(0, dtype=np.int64)
    big = "\x00\n" + "\x00\n".join(texts)
    out = {}
    for name, pattern in (("headings", _HEADING), ("list_items", _LIST_ITEM), ("fences", _FENCE)):
        positions = [m.start() for m in pattern.finditer(big)]
        out[name] = np.bincount(_rows_of(positions, row_starts), minlength=len(texts)).astype(np.int64)
    out["code_blocks"] = (out.pop("fences") + 1) // 2  # an unclosed fence still opens a block
    out["chars"] = lengths
    # Answers that could be JSON (hold a fence anywhere, or open with a bracket): the only ones worth parsing.
    fenced = [m.start() for m in _ANY_FENCE.finditer(big)]
    opening = [m.start() + 1 for m in _OPENS_WITH_BRACKET.finditer(big)]
    candidate = np.zeros(len(texts), dtype=bool)
    candidate[_rows_of(fenced + opening, row_starts)] = True
    out["json_candidate"] = candidate
    return out


def _parse_json_answer(text: str) -> tuple[bool, Any]:
    """The answer as JSON: the whole answer, or else the first fenced block tagged json (or untagged) that parses.

    Only objects and arrays count: a bare number or word is not a structured answer.
    """
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return True, json.loads(stripped)
        except ValueError:
            pass
    if "```" in text:
        for match in _FENCED_BLOCK.finditer(text):
            tag, body = match.group(1).lower(), match.group(2).strip()
            if tag in ("", "json", "json5", "jsonc") and body[:1] in ("{", "["):
                try:
                    return True, json.loads(body)
                except ValueError:
                    continue
    return False, None


def _schema_validator(schema: Any, cache: dict[str, Any]) -> Any:
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as exc:
            raise ValueError(f"JSON schema is not valid JSON: {exc}") from exc
    key = json.dumps(schema, sort_keys=True)
    if key not in cache:
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"JSON schema is invalid: {exc.message}") from exc
        cache[key] = validator_class(schema)
    return cache[key]


def _has_schema(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return not (isinstance(value, str) and not value.strip())


def _json_columns(texts: list[str], schemas: list[Any] | None, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``json_valid`` (bool) and ``schema_valid`` (object array: True/False, None where no schema).

    Only ``candidate`` answers (fenced or opening with a bracket) are parsed; the rest cannot be JSON.
    """
    json_valid = np.zeros(len(texts), dtype=bool)
    schema_valid = np.full(len(texts), None, dtype=object)
    validators: dict[str, Any] = {}
    with_schema = [] if schemas is None else [i for i, schema in enumerate(schemas) if _has_schema(schema)]
    for i in sorted(set(np.flatnonzero(candidate).tolist()) | set(with_schema)):
        ok, value = _parse_json_answer(texts[i]) if candidate[i] else (False, None)
        json_valid[i] = ok
        if schemas is not None and _has_schema(schemas[i]):
            validator = _schema_validator(schemas[i], validators)
            schema_valid[i] = bool(ok and validator.is_valid(value))
    return json_valid, schema_valid


def _marker_counts(texts: list[str], tokens: Tokens, opening_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hedging and flattery per answer, leaving out the refusal or non-answer wording (``opening_end`` chars)."""
    hedging, flattery = _HEDGING.count(tokens), _FLATTERY.count(tokens)
    rows = np.flatnonzero(opening_end > 0)
    if rows.size:
        worded = tokenise([texts[i][: opening_end[i]] for i in rows])
        hedging[rows] -= _HEDGING.count(worded)
        flattery[rows] -= _FLATTERY.count(worded)
    return np.maximum(hedging, 0), np.maximum(flattery, 0)


def _chunk_metrics(
    texts: list[str], grammar: Grammar, window: int | None, schemas: list[Any] | None
) -> tuple[dict[str, Any], Tokens]:
    texts = _nul_free(texts)
    tokens = tokenise(texts)
    columns: dict[str, Any] = _structure(texts)
    columns["words"] = np.bincount(tokens.row, minlength=len(texts)).astype(np.int64)
    signals = detect(texts, window=window, grammar=grammar, words=tokens)
    columns["refusal"] = signals.refusal
    columns["refusal_kind"] = signals.refusal_kind
    columns["non_answer"] = signals.non_answer
    columns["disclaimer"] = signals.disclaimer
    columns["pattern_hits"] = signals.rule_hits
    columns["json_valid"], columns["schema_valid"] = _json_columns(texts, schemas, columns.pop("json_candidate"))
    columns["hedging"], columns["flattery"] = _marker_counts(texts, tokens, signals.opening_end)
    return columns, tokens


def _frame(parts: list[dict[str, Any]], index: pd.Index, grammar: Grammar) -> pd.DataFrame:
    """The metric columns; ``attrs["refusal_pattern_hits"]``: answers matched per refusal rule or pattern."""
    data = {}
    for name in METRIC_COLUMNS:
        if name == "schema_valid":
            data[name] = pd.array(
                np.concatenate([np.asarray(p[name], dtype=object) for p in parts]) if parts else [], dtype="boolean"
            )
        else:
            data[name] = np.concatenate([p[name] for p in parts]) if parts else np.zeros(0)
    frame = pd.DataFrame(data, index=index)
    hits = np.sum([p["pattern_hits"] for p in parts], axis=0) if parts else np.zeros(len(grammar.refusal))
    frame.attrs["refusal_pattern_hits"] = {
        rule.name: int(count) for (rule, _), count in zip(grammar.refusal, hits, strict=True)
    }
    return frame


def output_metrics(
    texts: pd.Series,
    *,
    refusal_patterns: Sequence[str] | None = None,
    schemas: pd.Series | None = None,
    refusal_window: int | None = REFUSAL_WINDOW,
) -> pd.DataFrame:
    """One row of metrics per answer (same index as ``texts``): ``METRIC_COLUMNS`` and ``refusal_kind`` (full,
    partial or empty).

    ``schema_valid`` is NA where no schema was given. Raises ``ValueError`` for an invalid pattern or schema.
    """
    grammar = refusal_grammar(refusal_patterns)
    values = _clean(texts)
    schema_values = schemas.tolist() if schemas is not None else None
    parts = []
    for part in _chunks(len(values)):
        chunk_schemas = schema_values[part] if schema_values is not None else None
        parts.append(_chunk_metrics(values[part], grammar, refusal_window, chunk_schemas)[0])
    frame = _frame(parts, texts.index, grammar)
    frame["refusal_kind"] = np.concatenate([p["refusal_kind"] for p in parts]) if parts else np.zeros(0, dtype=object)
    return frame


def _word_sets(tokens: Tokens) -> np.ndarray:
    """Every answer's set of hashed words as one sorted array of distinct keys ``row << _SET_BITS | bucket``: one
    small integer per word, sorted once per chunk (a bitmap of every bucket would be 4 KB an answer to clear and
    count)."""
    # int32 keys: a chunk has at most _CHUNK answers, far fewer than the 2**16 rows that fit beside the bucket.
    return distinct(
        (tokens.row.astype(np.int32) << _SET_BITS) | (tokens.hash >> np.uint64(64 - _SET_BITS)).astype(np.int32)
    )


def _token_jaccard(a: Tokens, b: Tokens) -> np.ndarray:
    """Jaccard similarity of the two answers' word sets, row by row (both empty counts as identical)."""
    n, set_a, set_b = a.n_rows, _word_sets(a), _word_sets(b)
    both = np.concatenate([set_a, set_b])
    both.sort()
    # Each side's keys are distinct, so a key seen twice is a bucket both answers hold.
    shared_keys = np.compress(both[1:] == both[:-1], both[1:])
    shared = np.bincount(shared_keys >> _SET_BITS, minlength=n)
    union = np.bincount(set_a >> _SET_BITS, minlength=n) + np.bincount(set_b >> _SET_BITS, minlength=n) - shared
    return np.where(union > 0, shared / np.maximum(union, 1), 1.0)


def _embedding_similarity(a: list[str], b: list[str], backend: EmbeddingBackend) -> np.ndarray:
    va = np.asarray(backend.encode(a), dtype=np.float64)
    vb = np.asarray(backend.encode(b), dtype=np.float64)
    if va.shape != vb.shape or va.ndim != 2 or va.shape[0] != len(a):
        raise ValueError(f"embedding backend returned shapes {va.shape} and {vb.shape} for {len(a)} texts each")
    norms = np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1)
    cosine = np.where(norms > 0, (va * vb).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)
    return np.clip(cosine, 0.0, 1.0)


def similarity(a: pd.Series, b: pd.Series, *, backend: EmbeddingBackend | None = None) -> np.ndarray:
    """Normalised similarity in [0, 1] of ``a[i]`` and ``b[i]``: word-set Jaccard, or embedding cosine
    (negatives clipped to 0) when a backend is given."""
    if len(a) != len(b):
        raise ValueError(f"similarity needs two series of the same length, got {len(a)} and {len(b)}")
    left, right = _clean(a), _clean(b)
    if backend is not None:
        out = [_embedding_similarity(left[part], right[part], backend) for part in _chunks(len(left))]
    else:
        out = [
            _token_jaccard(tokenise(_nul_free(left[part])), tokenise(_nul_free(right[part])))
            for part in _chunks(len(left))
        ]
    return np.concatenate(out) if out else np.zeros(0)


class InThisThread:
    """An executor that runs each job at once, in the caller's thread (small inputs, embedding backends, a caller
    that is itself one of several processes)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def submit(self, fn, *args):
        future: Future = Future()
        future.set_result(fn(*args))
        return future


def paired_metrics(
    a: pd.Series,
    b: pd.Series,
    *,
    refusal_patterns: Sequence[str] | None = None,
    schemas: pd.Series | None = None,
    refusal_window: int | None = REFUSAL_WINDOW,
    backend: EmbeddingBackend | None = None,
    progress: Any = None,
    sides_in_threads: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Metrics of both sides and their similarity in one pass, so each answer is tokenised once.

    ``sides_in_threads``: measure side B in a second thread (the numpy half of the work releases the GIL, so
    the sides overlap on 2 cores). A caller that already runs one process per core passes False: there the
    second thread only contends for the GIL."""
    if len(a) != len(b):
        raise ValueError(f"paired metrics need two series of the same length, got {len(a)} and {len(b)}")
    grammar = refusal_grammar(refusal_patterns)
    left, right = _clean(a), _clean(b)
    schema_values = schemas.tolist() if schemas is not None else None
    parts_a, parts_b, sims = [], [], []
    with ThreadPoolExecutor(max_workers=2) if sides_in_threads else InThisThread() as pool:
        for part in _chunks(len(left)):
            chunk_schemas = schema_values[part] if schema_values is not None else None
            future_b = pool.submit(_chunk_metrics, right[part], grammar, refusal_window, chunk_schemas)
            metrics_a, tokens_a = _chunk_metrics(left[part], grammar, refusal_window, chunk_schemas)
            metrics_b, tokens_b = future_b.result()
            parts_a.append(metrics_a)
            parts_b.append(metrics_b)
            if backend is None:
                sims.append(_token_jaccard(tokens_a, tokens_b))
            else:  # chunk by chunk, so the backend never holds more than one chunk's vectors
                sims.append(_embedding_similarity(left[part], right[part], backend))
            if progress is not None:
                progress(part.stop / max(len(left), 1), f"measured {part.stop:,} of {len(left):,} pairs")
    sim = np.concatenate(sims) if sims else np.zeros(0)
    return _frame(parts_a, a.index, grammar), _frame(parts_b, b.index, grammar), sim
