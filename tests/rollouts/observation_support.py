"""Builders shared by the observation and impact tests (plain functions, built through services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollouts.models import Environment, Feature
from rollouts.registry.services import (
    deployment_record,
    model_version_register,
    prompt_version_register,
    release_create,
)

# A fixed hour a day ago: in the past (ingest refuses the future) and inside every look-back window.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def feature_with_releases(*, actor, team, slug: str = "summarise", n: int = 3):
    """A feature with production and staging environments and ``n`` releases (numbers 1..n)."""
    feature = Feature.objects.create(slug=slug, name=slug.title(), team=team)
    prod = Environment.objects.create(feature=feature, name="production", is_production=True)
    staging = Environment.objects.create(feature=feature, name="staging")
    model, _ = model_version_register(
        actor=actor, provider="openai", requested_alias="gpt-4", resolved_snapshot="gpt-4-0613"
    )
    releases = []
    for i in range(1, n + 1):
        prompt, _ = prompt_version_register(actor=actor, name=f"{slug}-prompt", template=f"v{i}: {{text}}")
        release, _ = release_create(actor=actor, feature=feature, model=model, prompt=prompt)
        releases.append(release)
    return feature, prod, staging, releases


def go_live(*, actor, environment, release, at):
    return deployment_record(actor=actor, environment=environment, release=release, live_at=at)


def record(feature, env, rel, at: datetime, /, **extra) -> dict:
    base = {
        "feature": feature.slug,
        "environment": env.name,
        "release": rel.number,
        "time": at.isoformat().replace("+00:00", "Z"),
        "latency_ms": 120.0,
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None or k not in ("release", "release_id")}


def records_over(feature, env, release, *, start: datetime, minutes: int, per_minute: int, **extra) -> list[dict]:
    """``per_minute`` records in each of ``minutes`` minutes; callables in ``extra`` get the running index."""
    out = []
    i = 0
    for m in range(minutes):
        for k in range(per_minute):
            values = {key: (val(i) if callable(val) else val) for key, val in extra.items()}
            out.append(record(feature, env, release, start + timedelta(minutes=m, seconds=k % 60), **values))
            i += 1
    return out
