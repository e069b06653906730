"""Sticky assignment, as Rewind publishes it in the routing table's ``assignment`` block (method
``sha256-bucket-v1``): bucket = first 8 bytes of SHA-256("feature:environment:key"), big-endian, modulo 10,000;
the arms own consecutive bucket ranges sized by their weights (the block lists them)."""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
METHOD = "sha256-bucket-v1"


def bucket_of(feature: str, environment: str, key: str) -> int:
    digest = hashlib.sha256(f"{feature}:{environment}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def release_for(table: dict, key: str) -> int | None:
    """The release number serving ``key`` under ``table`` (a routing table body), or None for an empty table.

    Uses the published ranges when the method is one this client knows; otherwise the cumulative weights in
    table order, which is the same rule."""
    bucket = bucket_of(table["feature"], table["environment"], key)
    block = table.get("assignment") or {}
    if block.get("method") == METHOD and block.get("buckets") == BUCKETS:
        for arm in block["ranges"]:
            if arm["from"] <= bucket < arm["to"]:
                return arm["release"]
        return None
    start = 0
    for arm in table.get("releases", []):
        end = start + arm["weight"] * (BUCKETS // 100)
        if start <= bucket < end:
            return arm["release"]
        start = end
    return None
