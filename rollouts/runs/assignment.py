"""Sticky assignment: which arm of a routing table serves a request key (a user, tenant or conversation id).

The rule is published in every routing table's ``assignment`` block, so any gateway can apply it without Rewind's
code, and the Python client in ``clients/python`` applies exactly this one:

1. ``bucket = int.from_bytes(sha256(f"{feature}:{environment}:{key}".encode("utf-8")).digest()[:8], "big") % 10000``
2. The arms, in the table's order (stable first, then candidate), own consecutive bucket ranges whose sizes are
   their weights in basis points (weight percent x 100): the first arm owns [0, w1), the next [w1, w1 + w2), ...
3. The key goes to the arm whose range holds its bucket.

Because the candidate's range sits at the top and only grows as its weight rises, a key that reached the candidate
at 5 % stays on it at 25 % and 50 %: one user sees one release for the whole canary (until a rollback).
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
METHOD = "sha256-bucket-v1"


def bucket_of(feature: str, environment: str, key: str) -> int:
    digest = hashlib.sha256(f"{feature}:{environment}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def ranges(weights: list[tuple[int, int]]) -> list[dict]:
    """[(release number, weight percent)] in table order -> [{"release", "from", "to"}] over [0, BUCKETS)."""
    out, start = [], 0
    for release, weight in weights:
        end = start + weight * (BUCKETS // 100)
        out.append({"release": release, "from": start, "to": end})
        start = end
    return out


def assignment_block(feature: str, environment: str, weights: list[tuple[int, int]]) -> dict:
    return {
        "method": METHOD,
        "key": f"{feature}:{environment}:<request key>",
        "hash": "sha256, first 8 bytes big-endian, modulo buckets",
        "buckets": BUCKETS,
        "ranges": ranges(weights),
    }


def release_for(block: dict, feature: str, environment: str, key: str) -> int | None:
    """The release number the published block assigns ``key`` to (None for an empty table)."""
    bucket = bucket_of(feature, environment, key)
    for arm in block["ranges"]:
        if arm["from"] <= bucket < arm["to"]:
            return arm["release"]
    return None
