"""The routing table gateways read: releases with weights and manifests for one environment.

It is derived from the run in flight, or else from the last deployment, and materialised in ``RoutingTable`` on
every change (in the same transaction), so a gateway's poll is one indexed query and a strong ETag compare.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from rollouts.hashing import content_hash
from rollouts.models import ACTIVE_RUN_STATES, Environment, Release, RolloutRun, RoutingTable
from rollouts.selectors import live_release_at, releases_with_parts
from rollouts.services import release_manifest


def routing_weights(environment: Environment) -> tuple[RolloutRun | None, list[tuple[Release, int, str]]]:
    """(run in flight or None, [(release, weight percent, role)]) with weights summing to 100 (or empty)."""
    run = (
        RolloutRun.objects.filter(environment=environment, state__in=ACTIVE_RUN_STATES)
        .select_related("stable_release", "candidate_release")
        .first()
    )
    if run is not None:
        parts = []
        if run.stable_release_id and run.candidate_weight < 100:
            parts.append((run.stable_release, 100 - run.candidate_weight, "stable"))
        if run.candidate_weight > 0 or not run.stable_release_id:
            parts.append((run.candidate_release, run.candidate_weight if run.stable_release_id else 100, "candidate"))
        return run, parts
    live = live_release_at(environment, timezone.now())
    return None, ([(live, 100, "stable")] if live else [])


def routing_body(environment: Environment) -> dict:
    run, parts = routing_weights(environment)
    full = {r.pk: r for r in releases_with_parts().filter(pk__in=[r.pk for r, _, _ in parts])}
    return {
        "feature": environment.feature.slug,
        "environment": environment.name,
        "run": run.pk if run else None,
        "run_state": run.state if run else None,
        "releases": [
            {"release": release.number, "weight": weight, "role": role, "manifest": release_manifest(full[release.pk])}
            for release, weight, role in parts
        ],
    }


def routing_publish(environment: Environment) -> RoutingTable:
    """Recompute and store the table; bump the version only when the content changed. Call inside the
    transaction that changed the weights, so readers never see a weight the database does not hold."""
    body = routing_body(environment)
    digest = content_hash(body)
    with transaction.atomic():
        table = RoutingTable.objects.select_for_update().filter(environment=environment).first()
        if table is None:
            try:
                with transaction.atomic():
                    return RoutingTable.objects.create(
                        environment=environment,
                        version=1,
                        etag=f'"{environment.pk}-1-{digest[:16]}"',
                        body={**body, "version": 1},
                    )
            except IntegrityError:
                table = RoutingTable.objects.select_for_update().get(environment=environment)
        if table.etag.endswith(f'-{digest[:16]}"'):
            return table
        table.version += 1
        table.etag = f'"{environment.pk}-{table.version}-{digest[:16]}"'
        table.body = {**body, "version": table.version}
        table.save(update_fields=["version", "etag", "body", "updated_at"])
        return table


def routing_read(feature_slug: str, environment_name: str) -> tuple[str, dict] | None:
    """(etag, body) in one query, or None if the environment does not exist. Environments that never had a
    table (no deployment since) get one on first read."""
    row = (
        RoutingTable.objects.filter(environment__feature__slug=feature_slug, environment__name=environment_name)
        .values_list("etag", "body")
        .first()
    )
    if row is not None:
        return row
    environment = Environment.objects.select_related("feature").filter(
        feature__slug=feature_slug, name=environment_name
    )
    environment = environment.first()
    if environment is None:
        return None
    table = routing_publish(environment)
    return table.etag, table.body
