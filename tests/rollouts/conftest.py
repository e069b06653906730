"""A small registry built through the services: one feature with staging and production, and helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rollouts.models import Environment
from rollouts.registry import services
from rollouts.runs import routing

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def feature(team, admin_user):
    feature = services.feature_create(actor=admin_user, slug="support-assistant", name="Support assistant", team=team)
    services.environment_create(actor=admin_user, feature=feature, name="staging")
    services.environment_create(actor=admin_user, feature=feature, name="production", is_production=True)
    return feature


@pytest.fixture
def staging(feature) -> Environment:
    return feature.environments.get(name="staging")


@pytest.fixture
def production(feature) -> Environment:
    return feature.environments.get(name="production")


def model_v(actor, **overrides):
    content = {
        "provider": "vllm",
        "requested_alias": "llama-3.1-8b-instruct",
        "resolved_snapshot": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "decoding_params": {"temperature": 0.2},
        **overrides,
    }
    return services.model_version_register(actor=actor, **content)[0]


def prompt_v(actor, **overrides):
    content = {"name": "support-answer", "system_prompt": "You are a support assistant.\nCite sources.", **overrides}
    return services.prompt_version_register(actor=actor, **content)[0]


def index_v(actor, **overrides):
    content = {
        "name": "kb-articles",
        "embedding_model": "bge-small-en",
        "embedding_model_version": "1.5",
        "dimension": 384,
        "corpus_snapshot": "kb-2026-03-01",
        "document_count": 4200,
        "built_at": datetime(2026, 3, 1, tzinfo=UTC),
        **overrides,
    }
    return services.index_version_register(actor=actor, **content)[0]


def adapter_v(actor, **overrides):
    content = {
        "name": "tone-lora",
        "base_model": "meta-llama/Llama-3.1-8B-Instruct",
        "rank": 16,
        "alpha": 32,
        "digest": "sha256:" + "ab" * 32,
        **overrides,
    }
    return services.adapter_version_register(actor=actor, **content)[0]


def make_release(actor, feature, *, model=None, prompt=None, index="default", adapters=(), **kwargs):
    idx = index_v(actor) if index == "default" else index
    return services.release_create(
        actor=actor,
        feature=feature,
        model=model or model_v(actor),
        prompt=prompt or prompt_v(actor),
        index=idx,
        query_encoder=kwargs.pop("query_encoder", idx.encoder if idx else ""),
        adapters=list(adapters),
        **kwargs,
    )[0]


@pytest.fixture
def release_factory(responder, feature):
    """release_factory(**parts) -> a new release of the feature made by the responder."""

    def make(actor=None, **kwargs):
        return make_release(actor or responder, feature, **kwargs)

    return make


@pytest.fixture(autouse=True)
def _fresh_routing_mirror():
    """Each test has its own database state: forget routing tables mirrored by earlier tests."""
    routing._bodies.clear()
    routing._seen.clear()
    client = routing.redis_client()
    if client is not None:
        keys = list(client.scan_iter("rewind:routing:*"))
        if keys:
            client.delete(*keys)
    yield
