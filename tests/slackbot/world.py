"""A small world built through the services: a feature with production and staging, release #1 then #2
(prompt edited) deployed to both, so a rollback plan has something to show."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from core.models import Team
from rollouts.models import Environment, Feature, Release
from rollouts.registry import services


@dataclass
class World:
    feature: Feature
    production: Environment
    staging: Environment
    r1: Release
    r2: Release


def feature_with_two_releases(actor, *, slug: str = "support-assistant") -> World:
    team, _ = Team.objects.get_or_create(slug=f"team-{slug}", defaults={"name": f"Team {slug}"})
    feature = Feature.objects.create(slug=slug, name=slug.replace("-", " ").title(), team=team)
    production = Environment.objects.create(feature=feature, name="production", is_production=True)
    staging = Environment.objects.create(feature=feature, name="staging")
    model, _ = services.model_version_register(
        actor=actor, provider="openai", requested_alias="gpt-4o", resolved_snapshot="gpt-4o-2024-08-06"
    )
    p1, _ = services.prompt_version_register(actor=actor, name="support", system_prompt="Be brief.\nCite sources.")
    p2, _ = services.prompt_version_register(actor=actor, name="support", system_prompt="Be brief.\nNever cite.")
    r1, _ = services.release_create(actor=actor, feature=feature, model=model, prompt=p1)
    r2, _ = services.release_create(actor=actor, feature=feature, model=model, prompt=p2)
    start = timezone.now() - dt.timedelta(days=2)
    for env in (production, staging):
        services.deployment_record(actor=actor, environment=env, release=r1, live_at=start)
        services.deployment_record(actor=actor, environment=env, release=r2, live_at=start + dt.timedelta(days=1))
    return World(feature, production, staging, r1, r2)
