"""Gateway tokens that passed recently, remembered per web process so that a poll of the routing table costs no
query for authentication.

A gateway polls many times a second with the same token. Each process remembers the user of a token that passed
(by a hash of the Authorization header, never the token itself) for TOKEN_SECONDS. Deleting a token or changing
a user (deactivated, role or superuser status changed, removed) moves a generation counter in Redis once the
change commits; every process reads the counter at most every GENERATION_SECONDS and forgets what it remembered
from an older generation, so a revoked token or a deactivated user loses routing access within that long. Without
Redis (embedded mode) the process that made the change forgets at once and the others within TOKEN_SECONDS.
"""

from __future__ import annotations

import contextlib
import hashlib
import time

import redis
from django.db import transaction

from rollouts.runs.routing import redis_client

TOKEN_SECONDS = 10.0
GENERATION_SECONDS = 0.05
GENERATION_KEY = "rewind:gateway-tokens:generation"

_remembered: dict[bytes, tuple[float, int, object]] = {}  # digest -> (until, generation, user)
_generation: list = [0.0, 0]  # [read again after (monotonic), value]
_local_changes = 0  # the generation without Redis: changes made in this process


def _digest(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode()).digest()


def generation() -> int | None:
    """The current generation (None when Redis does not answer: nothing remembered counts then). Read it before
    looking the token up, and remember the user under it."""
    now = time.monotonic()
    if _generation[0] > now:
        return _generation[1]
    client = redis_client()
    if client is None:
        value = _local_changes
    else:
        try:
            value = int(client.get(GENERATION_KEY) or 0)
        except redis.RedisError:
            return None
    _generation[0], _generation[1] = now + GENERATION_SECONDS, value
    return value


def remembered_user(authorization: str):
    """The user a recent poll with this Authorization header authenticated as, or None (look the token up)."""
    entry = _remembered.get(_digest(authorization))
    if entry is None or entry[0] <= time.monotonic():
        return None
    current = generation()
    return entry[2] if current is not None and entry[1] == current else None


def remember(authorization: str, user, at_generation: int | None) -> None:
    if at_generation is None:
        return
    if len(_remembered) > 10_000:
        _remembered.clear()
    _remembered[_digest(authorization)] = (time.monotonic() + TOKEN_SECONDS, at_generation, user)


def forget_after_commit() -> None:
    """A token or a user changed: every process forgets the tokens it remembered once the change is committed
    (before the commit, a poll could remember the old state again under the new generation)."""
    transaction.on_commit(_forget)


def _forget() -> None:
    global _local_changes
    _local_changes += 1
    _remembered.clear()
    _generation[0] = 0.0
    client = redis_client()
    if client is not None:
        # Redis down: other processes refuse what they remembered while they cannot read the generation; a
        # counter that missed this change leaves them at most TOKEN_SECONDS behind.
        with contextlib.suppress(redis.RedisError):
            client.incr(GENERATION_KEY)
