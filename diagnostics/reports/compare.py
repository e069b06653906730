"""Quick compare: two uploaded answer files analysed at once, with no prompt set, feature or release.

Nothing is stored, so nothing is audited; the result is the same document a report holds (``analyse``'s output).
The analysis runs in the request, so files are capped: larger comparisons belong in a report (run by a worker).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import IO

from django.core.exceptions import ValidationError

from core.permissions import require
from diagnostics.behaviour.answer_stream import FilePairs, index_answers, pair_indexes
from diagnostics.behaviour.answers import AnswerFileError, read_prompts
from diagnostics.behaviour.engine import AnalysisOptions, analyse_source
from diagnostics.behaviour.metrics import REFUSAL_WINDOW
from diagnostics.behaviour.refusal import Grammar, detect

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PAIRS = 50_000


def _read(file: IO[bytes], field: str) -> bytes:
    data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError({field: [f"Files up to {MAX_FILE_BYTES // 2**20} MiB here; request a report instead."]})
    return data


def _answers(file, field: str, text_field: str | None, id_field: str | None):
    try:
        return index_answers(io.BytesIO(_read(file, field)), file.name, text_field, id_field)
    except AnswerFileError as exc:
        raise ValidationError({field: [str(exc)]}) from None


def compare_files(
    *,
    actor,
    file_a,
    file_b,
    prompts=None,
    segment_fields: Sequence[str] = (),
    label_a: str = "",
    label_b: str = "",
    text_field: str | None = None,
    id_field: str | None = None,
    refusal_patterns: list[str] | None = None,
    alpha: float = 0.05,
) -> tuple[dict, FilePairs]:
    """The report of two answer files (paired by id, else by instruction text); ``ValidationError`` per field."""
    require(actor, "view")
    a = _answers(file_a, "file_a", text_field, id_field)
    b = _answers(file_b, "file_b", text_field, id_field)
    prompt_fields = None
    if prompts is not None:
        try:
            prompt_fields = read_prompts(_read(prompts, "prompts"), filename=prompts.name)
        except AnswerFileError as exc:
            raise ValidationError({"prompts": [str(exc)]}) from None
    try:
        pairing = pair_indexes(
            a, b, prompts=prompt_fields, segment_fields=list(segment_fields), labels=(label_a or None, label_b or None)
        )
    except AnswerFileError as exc:
        field = "segment_fields" if "Segment field" in str(exc) else "__all__"
        raise ValidationError({field: [str(exc)]}) from None
    if pairing.size > MAX_PAIRS:
        raise ValidationError({"__all__": [f"{pairing.size:,} pairs; up to {MAX_PAIRS:,} here. Request a report."]})
    options = AnalysisOptions(
        segment_fields=list(segment_fields),
        alpha=alpha,
        refusal_patterns=refusal_patterns,
        label_a=pairing.label_a,
        label_b=pairing.label_b,
    )
    try:
        # In the request: measured here, not in worker processes.
        return analyse_source(pairing, options, workers=1), pairing
    except AnswerFileError as exc:
        field = "segment_fields" if "Segment field" in str(exc) else "__all__"
        raise ValidationError({field: [str(exc)]}) from None
    except ValueError as exc:
        raise ValidationError({"__all__": [str(exc)]}) from None


def pattern_hits(
    patterns: list[str], sides: dict[str, list[str]], *, window: int | None = REFUSAL_WINDOW
) -> list[dict]:
    """Before a report runs: how many answers of each side each refusal pattern matches."""
    try:
        grammar = Grammar.with_refusal_patterns(patterns)
    except ValueError as exc:
        raise ValidationError({"refusal_patterns": [str(exc)]}) from None
    counts = {side: detect(texts, window=window, grammar=grammar).rule_hits for side, texts in sides.items()}
    return [
        {
            "pattern": pattern,
            **{f"hits_{side}": int(hits[i]) for side, hits in counts.items()},
            "zero_match": all(int(hits[i]) == 0 for hits in counts.values()),
        }
        for i, pattern in enumerate(patterns)
    ]
