"""The routing table gateways read: releases with weights and manifests for one environment.

It is derived from the run in flight, or else from the last deployment, and materialised in ``RoutingTable`` on
every change (in the same transaction), so a gateway's poll is one indexed query and a strong ETag compare.
"""

from __future__ import annotations

import contextlib
import json
import time

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from rollouts.registry.hashing import content_hash
from rollouts.registry.models import Environment, Release
from rollouts.registry.selectors import live_release_at, releases_with_parts
from rollouts.registry.services import release_manifest
from rollouts.runs.assignment import assignment_block
from rollouts.runs.models import ACTIVE_RUN_STATES, RolloutRun, RoutingTable

_UNKNOWN = object()


def routing_weights(environment: Environment, run=_UNKNOWN) -> tuple[RolloutRun | None, list[tuple[Release, int, str]]]:
    """(run in flight or None, [(release, weight percent, role)]) with weights summing to 100 (or empty).
    A caller that holds the environment's run in flight (or knows there is none) passes it as ``run``."""
    if run is _UNKNOWN:
        run = (
            RolloutRun.objects.filter(environment=environment, state__in=ACTIVE_RUN_STATES)
            .select_related("stable_release", "candidate_release")
            .first()
        )
    if run is not None and not run.is_active:
        run = None
    if run is not None:
        parts = []
        if run.stable_release_id and run.candidate_weight < 100:
            parts.append((run.stable_release, 100 - run.candidate_weight, "stable"))
        if run.candidate_weight > 0 or not run.stable_release_id:
            parts.append((run.candidate_release, run.candidate_weight if run.stable_release_id else 100, "candidate"))
        return run, parts
    live = live_release_at(environment, timezone.now())
    return None, ([(live, 100, "stable")] if live else [])


def routing_body(environment: Environment, run=_UNKNOWN) -> dict:
    run, parts = routing_weights(environment, run)
    full = {r.pk: r for r in releases_with_parts().filter(pk__in=[r.pk for r, _, _ in parts])}
    feature = environment.feature.slug
    return {
        "feature": feature,
        "environment": environment.name,
        "run": run.pk if run else None,
        "run_state": run.state if run else None,
        "releases": [
            {"release": release.number, "weight": weight, "role": role, "manifest": release_manifest(full[release.pk])}
            for release, weight, role in parts
        ],
        "assignment": assignment_block(feature, environment.name, [(r.number, w) for r, w, _ in parts]),
    }


def routing_publish(environment: Environment, run=_UNKNOWN) -> RoutingTable:
    """Recompute and store the table; bump the version only when the content changed. Call inside the
    transaction that changed the weights, so readers never see a weight the database does not hold."""
    body = routing_body(environment, run)
    digest = content_hash(body)
    with transaction.atomic(savepoint=False):
        table = RoutingTable.objects.select_for_update().filter(environment=environment).first()
        if table is None:
            try:
                with transaction.atomic():
                    table = RoutingTable.objects.create(
                        environment=environment,
                        version=1,
                        etag=f'"{environment.pk}-1-{digest[:16]}"',
                        body={**body, "version": 1},
                    )
                _mirror_after_commit(environment, table)
                return table
            except IntegrityError:
                table = RoutingTable.objects.select_for_update().get(environment=environment)
        if table.etag.endswith(f'-{digest[:16]}"'):
            return table
        table.version += 1
        table.etag = f'"{environment.pk}-{table.version}-{digest[:16]}"'
        table.body = {**body, "version": table.version}
        table.save(update_fields=["version", "etag", "body", "updated_at"])
        _mirror_after_commit(environment, table)
        return table


# Gateways poll hard, and on a busy database each query costs milliseconds. The current (version, etag) of each
# table is mirrored in Redis, set after commit and only ever moved forward (compare-and-set on the row's update
# time in microseconds, so a reader holding an older snapshot cannot put it back, and a re-created environment
# of the same name wins), with a short expiry so a writer that died between commit and mirror cannot leave it stale for long. Each web process
# keeps the serialised bodies by ETag, so a poll is one Redis GET and no query.
MIRROR_SECONDS = 5
_CAS = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""
# Under heavy polling a process also reuses the mirrored ETag for LOCAL_SECONDS instead of asking Redis on every
# request: a weight change is visible everywhere within that long after its commit (it is in the rollback
# latency benchmark). Without Redis (embedded mode) every read goes to the database.
LOCAL_SECONDS = 0.05
_seen: dict[str, tuple[float, str]] = {}
_bodies: dict[str, bytes] = {}
_redis = None


def redis_client():
    """The Redis client of the routing mirror (and of the gateway token cache), or None without Redis."""
    global _redis
    if not settings.REDIS_URL:
        return None
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)
    return _redis


def _mirror_key(feature_slug: str, environment_name: str) -> str:
    return f"rewind:routing:{feature_slug}/{environment_name}"


def _stamp(updated_at) -> int:
    return int(updated_at.timestamp() * 1_000_000)


def _mirror_set(feature_slug: str, environment_name: str, stamp: int, etag: str) -> None:
    client = redis_client()
    if client is None:
        return
    # On a Redis error the database stays the truth: readers fall back to it.
    with contextlib.suppress(redis.RedisError):
        client.eval(_CAS, 1, _mirror_key(feature_slug, environment_name), stamp, etag, MIRROR_SECONDS)


def _serialised(etag: str, body: dict) -> bytes:
    data = _bodies.get(etag)
    if data is None:
        if len(_bodies) > 2000:
            _bodies.clear()
        data = _bodies[etag] = json.dumps(body, separators=(",", ":")).encode()
    return data


def _mirror_after_commit(environment: Environment, table: RoutingTable) -> None:
    slug, name, stamp, etag = environment.feature.slug, environment.name, _stamp(table.updated_at), table.etag

    def mirror() -> None:
        _mirror_set(slug, name, stamp, etag)
        _seen.pop(_mirror_key(slug, name), None)  # this process sees its own change at once

    transaction.on_commit(mirror)


def routing_cached(feature_slug: str, environment_name: str) -> tuple[str, bytes] | None:
    """(etag, JSON body) when this process holds the table Redis names as current, without a query; None when
    only the database can tell (the table changed since this process serialised it, no such environment, or no
    Redis). The gateway poll layer in front of Django answers from this alone."""
    key = _mirror_key(feature_slug, environment_name)
    seen = _seen.get(key)
    if seen is not None and seen[0] > time.monotonic():
        data = _bodies.get(seen[1])
        if data is not None:
            return seen[1], data
    client = redis_client()
    if client is None:
        return None
    try:
        mirrored = client.get(key)
    except redis.RedisError:
        return None
    if mirrored is None:
        return None
    etag = mirrored.decode().split("|", 1)[1]
    data = _bodies.get(etag)
    if data is None:
        return None
    _remember(key, etag)
    return etag, data


def routing_read(feature_slug: str, environment_name: str) -> tuple[str, bytes] | None:
    """(etag, JSON body) of the environment's table, or None if there is no such environment."""
    cached = routing_cached(feature_slug, environment_name)
    if cached is not None:
        return cached
    client = redis_client()
    key = _mirror_key(feature_slug, environment_name)
    row = (
        RoutingTable.objects.filter(environment__feature__slug=feature_slug, environment__name=environment_name)
        .values_list("updated_at", "etag", "body")
        .first()
    )
    if row is None:
        environment = (
            Environment.objects.select_related("feature")
            .filter(feature__slug=feature_slug, name=environment_name)
            .first()
        )
        if environment is None:
            return None
        table = routing_publish(environment)
        row = (table.updated_at, table.etag, table.body)
    updated_at, etag, body = row
    data = _serialised(etag, body)
    _mirror_set(feature_slug, environment_name, _stamp(updated_at), etag)
    if client is not None:
        _remember(key, etag)
    return etag, data


def _remember(key: str, etag: str) -> None:
    if len(_seen) > 2000:
        _seen.clear()
    _seen[key] = (time.monotonic() + LOCAL_SECONDS, etag)
