"""Token polls of the routing table take the short path (no session, CSRF or auth middleware); everything else,
people's sessions included, goes through the full stack with the same answers."""

from __future__ import annotations

import pytest

from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db
URL = "/api/v1/routing/support-assistant/staging"


@pytest.fixture
def staging(team, approver):
    feature, staging, _ = feature_with_envs(team)
    deploy(approver, staging, release(approver, feature, prompt="v1"))
    return staging


def test_a_token_poll_skips_the_session_and_answers_304_by_etag(staging, api_as, viewer):
    client = api_as(viewer)
    first = client.get(URL)
    assert first.status_code == 200 and first.json()["releases"][0]["weight"] == 100
    assert not hasattr(first.wsgi_request, "session"), "a gateway poll should not load a session"
    assert first["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still wraps it
    again = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again["ETag"] == first["ETag"]


def test_a_bad_token_or_a_foreign_host_is_refused_on_the_short_path(staging, api_as, viewer, client):
    assert client.get(URL, HTTP_AUTHORIZATION="Token not-a-real-token").status_code == 401
    assert api_as(viewer).get(URL, HTTP_HOST="evil.example").status_code == 400
    assert api_as(viewer).post(URL, {}).status_code == 405  # writes never take the short path


def test_a_signed_in_person_reads_the_same_table_through_the_full_stack(staging, web_as, viewer, api_as):
    response = web_as(viewer).get(URL)
    assert response.status_code == 200 and hasattr(response.wsgi_request, "session")
    assert response.json() == api_as(viewer).get(URL).json()
