"""Fixtures for incident and diagnosis tests: a feature with an ownership map, releases and deployments,
built through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from core.models import Role, Team, User
from diagnostics.models import DiagnosisLayer
from diagnostics.services import ownership_map_set
from incidents.services import incident_open
from rollouts.models import Environment, Feature
from rollouts.registry import services as rollouts


def make_person(username: str, role: Role = Role.RESPONDER) -> User:
    return User.objects.create_user(
        username=username, password="pw-" + username, first_name=username.title(), role=role
    )


@pytest.fixture
def layer_owners(db) -> dict[str, User]:
    return {
        DiagnosisLayer.MODEL: make_person("mo"),
        DiagnosisLayer.DATA: make_person("dee"),
        DiagnosisLayer.PROMPT: make_person("pat"),
        DiagnosisLayer.PRODUCT: make_person("pia"),
    }


@pytest.fixture
def feature(db, admin_user, layer_owners) -> Feature:
    team = Team.objects.create(slug="assist", name="Assist")
    feature = Feature.objects.create(slug="support-assistant", name="Support assistant", team=team)
    Environment.objects.create(feature=feature, name="production", is_production=True)
    Environment.objects.create(feature=feature, name="staging")
    for layer, owner in layer_owners.items():
        ownership_map_set(actor=admin_user, feature=feature, layer=layer, owner=owner, team=team)
    return feature


@pytest.fixture
def production(feature) -> Environment:
    return feature.environments.get(name="production")


@pytest.fixture
def deployed(feature, production, admin_user):
    """Release #1 live 20 days ago; #2 (prompt edit + embedding change) live 2 days ago."""
    now = timezone.now()
    model, _ = rollouts.model_version_register(
        actor=admin_user, provider="openai", requested_alias="gpt-4o", resolved_snapshot="gpt-4o-2024-08-06"
    )
    p1, _ = rollouts.prompt_version_register(actor=admin_user, name="support", system_prompt="Be helpful.\nCite docs.")
    p2, _ = rollouts.prompt_version_register(
        actor=admin_user, name="support", system_prompt="Be helpful.\nBe brief.", message="shorter answers"
    )
    i1, _ = rollouts.index_version_register(
        actor=admin_user,
        name="kb",
        embedding_model="e5-large",
        embedding_model_version="v1",
        dimension=1024,
        corpus_snapshot="2026-10-01",
        document_count=1000,
        built_at=now - dt.timedelta(days=40),
    )
    i2, _ = rollouts.index_version_register(
        actor=admin_user,
        name="kb",
        embedding_model="bge-m3",
        embedding_model_version="v1",
        dimension=1024,
        corpus_snapshot="2026-11-20",
        document_count=1100,
        built_at=now - dt.timedelta(days=3),
    )
    r1, _ = rollouts.release_create(
        actor=admin_user, feature=feature, model=model, prompt=p1, index=i1, query_encoder="e5-large@v1"
    )
    r2, _ = rollouts.release_create(
        actor=admin_user, feature=feature, model=model, prompt=p2, index=i2, query_encoder="bge-m3@v1"
    )
    rollouts.deployment_record(
        actor=admin_user, environment=production, release=r1, live_at=now - dt.timedelta(days=20)
    )
    rollouts.deployment_record(actor=admin_user, environment=production, release=r2, live_at=now - dt.timedelta(days=2))
    return r1, r2


@pytest.fixture
def incident(responder, production, deployed):
    now = timezone.now()
    return incident_open(
        actor=responder,
        title="Support assistant answers got worse after the embedding change",
        severity="sev2",
        summary="Customers report irrelevant answers citing the wrong help articles.",
        feature_environments=[production],
        impact_started_at=now - dt.timedelta(days=1, hours=20),
        detected_at=now - dt.timedelta(days=1),
    )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The cast is created with passwords; the default PBKDF2 makes each person cost ~0.5 s on a busy CI box.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
