"""API lists answer with a constant number of queries, however many rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rollouts.registry import services
from tests.rollouts.conftest import T0, adapter_v, prompt_v


@pytest.fixture
def busy_registry(responder, release_factory, staging):
    adapter = adapter_v(responder)
    for i in range(10):
        release = release_factory(prompt=prompt_v(responder, system_prompt=f"v{i}"), adapters=[adapter])
        services.deployment_record(actor=responder, environment=staging, release=release, live_at=T0 + timedelta(i))


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/releases/?feature=support-assistant",
        "/api/v1/deployments/?feature=support-assistant",
        "/api/v1/features/",
        "/api/v1/environments/",
        "/api/v1/prompt-versions/",
        "/api/v1/audit/",
        "/api/v1/features/support-assistant/environments/staging/changes?from=2026-01-01T00:00:00Z",
    ],
)
def test_api_lists_use_a_constant_number_of_queries(api_as, viewer, busy_registry, django_assert_max_num_queries, url):
    api = api_as(viewer)
    with django_assert_max_num_queries(8):
        response = api.get(url)
    assert response.status_code == 200
