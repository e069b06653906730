"""The shape of an observation batch as msgspec types, and the quick check of a whole batch against it.

msgspec decodes a request body (or converts a list of dicts) straight into ``Record`` structs and checks types,
ranges, lengths and patterns in C as it goes. A batch that passes these types is one the detailed checks in
rollouts.judging.observations accept too, so it is stored without them; a batch that does not pass goes through
the detailed checks, which store it if it is good after all (e.g. a time without seconds) or
name every bad record and field. The types are therefore a strict subset of what the endpoint accepts: anything
they leave out (a Unicode segment key, an unusual time format) only takes the slower way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from django.db.models import Q
from django.utils import timezone

from rollouts.registry.models import Environment, Release

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_SEGMENT_KEYS = 8
# The longest text a record holds (workflow and request ids); every other string is shorter.
LONGEST_TEXT = 120

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=LONGEST_TEXT)]
_Positive = Annotated[int, msgspec.Meta(gt=0)]
_NonNegative = Annotated[float, msgspec.Meta(ge=0)]
_Count = Annotated[int, msgspec.Meta(ge=0, lt=2**31)]
# An RFC 3339 date-time with an offset, parsed by msgspec in C; other ISO 8601 forms take the detailed path.
_Instant = Annotated[datetime, msgspec.Meta(tz=True)]
# Segments repeat across a batch (a few tenants, locales, intents): a record keeps its segment as the JSON text it
# came as, and each distinct text is decoded and checked once (segments_of), not on every record.
_Segment = Annotated[dict[str, str], msgspec.Meta(max_length=MAX_SEGMENT_KEYS)]
NO_SEGMENT = msgspec.Raw(b"null")


class Record(msgspec.Struct, forbid_unknown_fields=True):
    """One observation as the endpoint documents it (see ObservationRecordSerializer)."""

    feature: _Name
    environment: _Name
    time: _Instant
    latency_ms: _NonNegative
    release: _Positive | None = None
    release_id: _Positive | None = None
    error: bool = False
    refusal: bool = False
    json_valid: bool | None = None
    feedback: Literal[-1, 0, 1] | None = None
    eval_score: float | None = None
    cost: _NonNegative = 0.0
    tokens_in: _Count = 0
    tokens_out: _Count = 0
    segment: msgspec.Raw = NO_SEGMENT  # JSON text: an object of short strings, or null (segments_of checks it)
    workflow_id: _Id | None = None
    request_id: _Id | None = None


class Batch(msgspec.Struct, forbid_unknown_fields=True):
    records: list[Record]


_decoder = msgspec.json.Decoder(Batch)
_segment_decoder = msgspec.json.Decoder(_Segment | None)
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Segment:
    """One distinct segment of a batch: its values, its canonical key (the rollup dimension) and its JSON text."""

    values: dict[str, str]
    key: str
    text: str


# A record's segment text (bytes(record.segment)) -> the segment
Segments = dict[bytes, Segment]
# How JSON writes a NUL character inside a string (a raw NUL byte is not valid JSON).
_NUL = re.compile(rb"\\u0000")

# (feature, environment, release number or 0, release id or 0) -> (environment id, release id)
References = dict[tuple[str, str, int, int], tuple[int, int]]


def decode_body(body: bytes) -> list[Record] | None:
    """Records of a JSON body ``{"records": [...]}`` that meet the types, or None (take the detailed path)."""
    if _NUL.search(body):
        return None
    try:
        return _decoder.decode(body).records
    except msgspec.ValidationError:
        return None
    except msgspec.DecodeError:
        return None


def convert(records: Any) -> list[Record] | None:
    """The same for records already parsed (the OTLP intake, services): None when any does not fit."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return None
    try:
        as_text = [_with_segment_text(r) if "segment" in r else r for r in records]
        return msgspec.convert(as_text, list[Record], strict=True)
    except (msgspec.ValidationError, msgspec.EncodeError, TypeError, ValueError):
        return None


def _with_segment_text(record: dict) -> dict:
    segment = record["segment"]
    if not (segment is None or isinstance(segment, dict)):
        raise TypeError("a segment is an object")
    return {**record, "segment": msgspec.Raw(_encoder.encode(segment))}


def _segment_ok(segment: dict[str, str]) -> bool:
    return all(
        key.isascii()
        and key.isidentifier()
        and len(key) <= 40
        and 0 < len(value) <= 80
        and "&" not in value
        and "=" not in value
        for key, value in segment.items()
    )


def segments_of(records: list[Record], *, check: bool = True) -> Segments | None:
    """The batch's distinct segments, each decoded and checked once; None when one is not a good segment.
    ``check=False`` for records the detailed checks passed (which also allow Unicode identifier keys)."""
    out: Segments = {}
    for r in records:
        text = bytes(r.segment)
        if text not in out:
            try:
                values = _segment_decoder.decode(text) or {}
            except (msgspec.ValidationError, msgspec.DecodeError):
                return None
            if check and not _segment_ok(values):
                return None
            out[text] = Segment(values, segment_key_of(values), _encoder.encode(values).decode())
    return out


def quick_check(records: list[Record], max_batch: int) -> Segments | None:
    """What the types cannot say: batch size, finite numbers, exactly one release reference, a real instant
    not in the future, segment keys and values. The batch's segments when the whole batch is good, else None."""
    if not 0 < len(records) <= max_batch:
        return None
    # A NaN or an infinity anywhere makes the sum non-finite (a sum that overflows only sends it the slow way).
    if not math.isfinite(sum(r.latency_ms + r.cost + (r.eval_score or 0.0) for r in records)):
        return None
    latest = timezone.now() + FUTURE_TOLERANCE
    for r in records:
        if (r.release is None) == (r.release_id is None) or r.time > latest:
            return None
    return segments_of(records)


def references(records: list[Record]) -> References | None:
    """Environment and release ids for every (feature, environment, release) the batch names, in two queries;
    None when any of them does not exist (the detailed path then says which)."""
    combos = {(r.feature, r.environment, r.release or 0, r.release_id or 0) for r in records}
    env_q = Q()
    for feature, env in {(c[0], c[1]) for c in combos}:
        env_q |= Q(feature__slug=feature, name=env)
    environments = {
        (slug, name): (pk, feature_id)
        for slug, name, pk, feature_id in Environment.objects.filter(env_q).values_list(
            "feature__slug", "name", "pk", "feature_id"
        )
    }
    numbers: set[tuple[int, int]] = set()
    ids: set[int] = set()
    for feature, env, number, release_id in combos:
        found = environments.get((feature, env))
        if found is None:
            return None
        if number:
            numbers.add((found[1], number))
        else:
            ids.add(release_id)
    rel_q = Q(pk__in=ids) if ids else Q()
    for feature_id in {f for f, _ in numbers}:
        rel_q |= Q(feature_id=feature_id, number__in=[n for f, n in numbers if f == feature_id])
    by_number, by_id = {}, {}
    for pk, feature_id, number in Release.objects.filter(rel_q).values_list("pk", "feature_id", "number"):
        by_number[(feature_id, number)] = pk
        by_id[pk] = feature_id
    out: References = {}
    for combo in combos:
        feature, env, number, release_id = combo
        env_pk, feature_id = environments[(feature, env)]
        if number:
            pk = by_number.get((feature_id, number))
        else:
            pk = release_id if by_id.get(release_id) == feature_id else None
        if pk is None:
            return None
        out[combo] = (env_pk, pk)
    return out


def first_of_each_request_id(records: list[Record], refs: References) -> list[tuple[int, int, Record]]:
    """(environment id, release id, record) in batch order, each record's references resolved; of several records
    with one request id in one environment, the first is kept and the later ones are dropped."""
    kept, seen = [], set()
    for r in records:
        environment_id, release_id = refs[(r.feature, r.environment, r.release or 0, r.release_id or 0)]
        if r.request_id is not None:
            if (environment_id, r.request_id) in seen:
                continue
            seen.add((environment_id, r.request_id))
        kept.append((environment_id, release_id, r))
    return kept


def segment_key_of(segment: dict) -> str:
    """Canonical, order-independent text of a segment, used as the rollup dimension."""
    return "&".join(f"{k}={segment[k]}" for k in sorted(segment))[:255]


def from_checked(rec: dict, time: datetime) -> Record:
    """A record that passed the detailed checks, as a struct."""
    return Record(
        feature=rec["feature"],
        environment=rec["environment"],
        time=time,
        latency_ms=float(rec["latency_ms"]),
        release=rec.get("release"),
        release_id=rec.get("release_id"),
        error=rec.get("error", False),
        refusal=rec.get("refusal", False),
        json_valid=rec.get("json_valid"),
        feedback=rec.get("feedback"),
        eval_score=rec.get("eval_score"),
        cost=float(rec.get("cost", 0.0)),
        tokens_in=rec.get("tokens_in", 0),
        tokens_out=rec.get("tokens_out", 0),
        segment=msgspec.Raw(_encoder.encode(rec["segment"])) if rec.get("segment") is not None else NO_SEGMENT,
        workflow_id=rec.get("workflow_id"),
        request_id=rec.get("request_id"),
    )
