from __future__ import annotations

from datetime import timedelta

import pytest

from rollouts.registry import selectors, services
from tests.rollouts.conftest import T0, index_v, model_v, prompt_v

US = timedelta(microseconds=1)


@pytest.fixture
def history(responder, approver, release_factory, staging):
    """#1 live at T0, #2 (prompt edit) at T0+1d, #3 (embedding change) at T0+2d, rollback to #2 at T0+3d."""
    r1 = release_factory()
    r2 = release_factory(prompt=prompt_v(responder, system_prompt="You are a support assistant.\nCite two sources."))
    index = index_v(responder, embedding_model="text-embedding-3-small", embedding_model_version="", dimension=1536)
    r3 = release_factory(prompt=r2.prompt, index=index)
    for day, release in enumerate([r1, r2, r3, r2]):
        services.deployment_record(actor=approver, environment=staging, release=release, live_at=T0 + timedelta(day))
    return r1, r2, r3


def test_what_was_live_at_the_boundaries(history, staging):
    r1, r2, r3 = history
    assert selectors.live_release_at(staging, T0 - US) is None
    assert selectors.live_release_at(staging, T0) == r1
    assert selectors.live_release_at(staging, T0 + timedelta(1) - US) == r1
    assert selectors.live_release_at(staging, T0 + timedelta(1)) == r2
    assert selectors.live_release_at(staging, T0 + timedelta(2)) == r3
    assert selectors.live_release_at(staging, T0 + timedelta(3)) == r2


def test_the_api_answers_what_was_live_exactly_at_and_just_before_a_deployment(api_as, viewer, history):
    r1, r2, _ = history
    url = "/api/v1/features/support-assistant/environments/staging/live"
    at = api_as(viewer).get(url, {"at": (T0 + timedelta(1)).isoformat()})
    assert at.status_code == 200, at.json()
    assert at.json()["release"]["number"] == r2.number
    assert at.json()["release"]["prompt"]["system_prompt"].endswith("Cite two sources.")
    before = api_as(viewer).get(url, {"at": (T0 + timedelta(1) - US).isoformat()})
    assert before.json()["release"]["number"] == r1.number
    assert before.json()["deployment"]["live_at"] == "2026-03-02T09:00:00Z"


def test_before_any_deployment_the_api_answers_404_with_the_first_deployment_time(api_as, viewer, history):
    response = api_as(viewer).get(
        "/api/v1/features/support-assistant/environments/staging/live", {"at": "2026-03-01T00:00:00Z"}
    )
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "Nothing was live in support-assistant/staging at 2026-03-01T00:00:00+00:00; "
        "the first deployment is at 2026-03-02T09:00:00+00:00."
    )


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-02T25:00", "1710000000"])
def test_a_bad_timestamp_is_a_400_naming_the_parameter(api_as, viewer, history, bad):
    response = api_as(viewer).get("/api/v1/features/support-assistant/environments/staging/live", {"at": bad})
    assert response.status_code == 400
    assert "at" in response.json()


def test_an_unknown_environment_is_a_404(api_as, viewer, history):
    assert api_as(viewer).get("/api/v1/features/support-assistant/environments/canary/live").status_code == 404


def test_what_changed_between_two_times_layer_by_layer(api_as, viewer, history):
    r1, _, _ = history
    response = api_as(viewer).get(
        "/api/v1/features/support-assistant/environments/staging/changes",
        {"from": (T0 + timedelta(hours=12)).isoformat(), "to": (T0 + timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["live_at_start"]["number"] == r1.number
    changes = body["changes"]
    assert [c["deployment"]["release"]["number"] for c in changes] == [2, 3, 2]
    assert [c["previous_release"]["number"] for c in changes] == [1, 2, 3]
    assert changes[0]["changed_layers"] == ["prompt"]
    assert "+Cite two sources." in changes[0]["layers"][0]["prompt_diff"]
    assert changes[1]["changed_layers"] == ["index"]
    assert changes[1]["layers"][0]["summary"] == "embedding model changed (index rebuilt)"
    assert changes[2]["deployment"]["is_rollback"] is True


def test_changes_needs_from_before_to(api_as, viewer, history):
    url = "/api/v1/features/support-assistant/environments/staging/changes"
    assert api_as(viewer).get(url).json() == {"from": ["This field is required."]}
    response = api_as(viewer).get(url, {"from": "2026-03-05T00:00:00Z", "to": "2026-03-01T00:00:00Z"})
    assert response.status_code == 400
    assert response.json() == {"to": ["Must be after from."]}


def test_release_diff_per_layer_through_the_api(api_as, viewer, responder, release_factory):
    r1 = release_factory()
    int4 = model_v(responder, precision="int4", quantization="AWQ", base_model="meta-llama/Llama-3.1-8B-Instruct")
    r2 = release_factory(model=int4, prompt=prompt_v(responder, system_prompt="Be brief."))
    response = api_as(viewer).get(f"/api/v1/releases/{r1.pk}/diff/{r2.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["changed_layers"] == ["model", "prompt"]
    assert body["layers"][0]["summary"] == "precision/quantization changed"
    assert "precision: 'bf16' → 'int4'" in body["layers"][0]["details"]
    assert "-Cite sources." in body["layers"][1]["prompt_diff"]


def test_deployment_list_filters_by_feature_environment_and_time(api_as, viewer, history):
    response = api_as(viewer).get(
        "/api/v1/deployments/",
        {"feature": "support-assistant", "environment": "staging", "live_after": (T0 + timedelta(1)).isoformat()},
    )
    assert [d["release"]["number"] for d in response.json()["results"]] == [2, 3, 2]
    assert api_as(viewer).get("/api/v1/deployments/", {"environment": "production"}).json()["count"] == 0
    bad = api_as(viewer).get("/api/v1/deployments/", {"live_after": "soon"})
    assert bad.status_code == 400 and "live_after" in bad.json()


def test_releases_of_different_features_cannot_be_diffed(api_as, viewer, responder, admin_user, team, release_factory):
    from tests.rollouts.conftest import make_release

    other = services.feature_create(actor=admin_user, slug="invoice-extractor", name="Invoices", team=team)
    mine, theirs = release_factory(), make_release(responder, other)
    response = api_as(viewer).get(f"/api/v1/releases/{mine.pk}/diff/{theirs.pk}")
    assert response.status_code == 400
    assert "different features" in response.json()["detail"]
    assert api_as(viewer).get(f"/api/v1/releases/{mine.pk}/diff/99999").status_code == 404


def test_the_sql_selector_returns_what_the_orm_query_returns(history, staging):
    from rollouts.models import DeploymentEvent

    def orm(at):
        events = DeploymentEvent.objects.filter(environment=staging, live_at__lte=at).select_related("release")
        return events.order_by("-live_at", "-id").first()

    def fields(event):
        if event is None:
            return None
        return [(f.attname, getattr(event, f.attname)) for f in event._meta.concrete_fields] + [
            (f.attname, getattr(event.release, f.attname)) for f in event.release._meta.concrete_fields
        ]

    for at in [T0 - US, T0, T0 + timedelta(hours=30), T0 + timedelta(days=3), T0 + timedelta(days=9)]:
        assert fields(selectors.live_event_at(staging, at)) == fields(orm(at))
