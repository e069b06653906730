"""Build release-registry state through the services, as a user would."""

from __future__ import annotations

from datetime import UTC, datetime

from rollouts.models import Environment, Feature
from rollouts.registry import services


def feature_with_envs(team, *, slug: str = "support-assistant") -> tuple[Feature, Environment, Environment]:
    feature = Feature.objects.create(slug=slug, name=slug.replace("-", " ").title(), team=team)
    staging = Environment.objects.create(feature=feature, name="staging")
    production = Environment.objects.create(feature=feature, name="production", is_production=True)
    return feature, staging, production


def release(actor, feature: Feature, *, prompt: str = "Be helpful.", snapshot: str = "gpt-4-0613", encoder="e5@2"):
    model, _ = services.model_version_register(
        actor=actor, provider="openai", requested_alias="gpt-4", resolved_snapshot=snapshot
    )
    prompt_v, _ = services.prompt_version_register(actor=actor, name="support", system_prompt=prompt)
    index, _ = services.index_version_register(
        actor=actor,
        name="kb",
        embedding_model=encoder.split("@")[0],
        embedding_model_version=encoder.split("@")[1] if "@" in encoder else "",
        dimension=768,
        corpus_snapshot="2026-11-01",
        document_count=1000,
        built_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    rel, _ = services.release_create(
        actor=actor, feature=feature, model=model, prompt=prompt_v, index=index, query_encoder=encoder
    )
    return rel


def deploy(actor, environment: Environment, rel, **kw):
    return services.deployment_record(actor=actor, environment=environment, release=rel, **kw)
