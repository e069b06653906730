"""A feature with two releases live in one environment, and a token: what the live benchmarks need."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime


def two_releases(*, actor, feature, prompts: tuple[str, str]) -> list:
    """Two releases of ``feature`` on one model and one index, told apart by their system prompts."""
    from rollouts.registry import services

    model, _ = services.model_version_register(
        actor=actor, provider="openai", requested_alias="gpt-4", resolved_snapshot="gpt-4-0613"
    )
    index, _ = services.index_version_register(
        actor=actor,
        name="kb",
        embedding_model="e5",
        embedding_model_version="2",
        dimension=768,
        corpus_snapshot="2026-11-01",
        document_count=1000,
        built_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    made = []
    for text in prompts:
        prompt, _ = services.prompt_version_register(actor=actor, name="support", system_prompt=text)
        release, _ = services.release_create(
            actor=actor, feature=feature, model=model, prompt=prompt, index=index, query_encoder="e5@2"
        )
        made.append(release)
    return made


def seed(*, production: bool = False) -> dict:
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from core.models import Role, Team, User
    from rollouts.models import Environment, Feature
    from rollouts.registry import services

    call_command("migrate", verbosity=0)
    user = User.objects.create_user(username="bench", password="x", role=Role.APPROVER)
    team = Team.objects.create(slug="bench", name="Bench")
    feature = Feature.objects.create(slug="support-assistant", name="Support assistant", team=team)
    env = Environment.objects.create(
        feature=feature, name="production" if production else "staging", is_production=production
    )
    releases = []
    for rel in two_releases(
        actor=user,
        feature=feature,
        prompts=("You are a helpful support assistant. v1", "You are a helpful support assistant. v2"),
    ):
        services.deployment_record(actor=user, environment=env, release=rel)
        releases.append(rel.number)
    return {"token": Token.objects.create(user=user).key, "env": env.name, "releases": releases}


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    print(json.dumps(seed(production=os.environ.get("BENCH_PRODUCTION") == "1")))
