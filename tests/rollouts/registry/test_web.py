from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import AuditEntry
from rollouts.models import DeploymentEvent, ModelVersion, Release
from rollouts.registry import services
from tests.rollouts.conftest import T0, index_v, model_v, prompt_v


@pytest.fixture
def two_releases(responder, approver, release_factory, staging, production):
    r1 = release_factory()
    r2 = release_factory(prompt=prompt_v(responder, system_prompt="You are a support assistant.\nCite two sources."))
    services.deployment_record(actor=responder, environment=staging, release=r1, live_at=T0)
    services.deployment_record(actor=approver, environment=production, release=r1, live_at=T0 + timedelta(hours=2))
    services.deployment_record(actor=responder, environment=staging, release=r2, live_at=T0 + timedelta(days=1))
    services.deployment_record(actor=approver, environment=staging, release=r1, live_at=T0 + timedelta(days=2))
    return r1, r2


def test_anonymous_visitors_are_sent_to_login(client, feature):
    response = client.get("/features/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_feature_list_shows_each_environments_current_release(web_as, viewer, two_releases):
    page = web_as(viewer).get("/features/").content.decode()
    assert "support-assistant" in page
    assert f'href="/releases/{two_releases[0].pk}/">#1</a>' in page


def test_the_feature_list_uses_a_constant_number_of_queries(
    web_as, viewer, team, admin_user, django_assert_max_num_queries
):
    for i in range(12):
        feature = services.feature_create(actor=admin_user, slug=f"f{i}", name=f"F{i}", team=team)
        services.environment_create(actor=admin_user, feature=feature, name="staging")
    client = web_as(viewer)
    with django_assert_max_num_queries(6):
        assert client.get("/features/").status_code == 200


def test_the_feature_page_shows_history_with_who_via_and_rollbacks(web_as, viewer, two_releases):
    page = web_as(viewer).get("/features/support-assistant/").content.decode()
    assert 'id="env-staging"' in page and 'id="env-production"' in page
    assert "2026-03-04 09:00" in page
    assert '<span class="badge warn">rollback</span>' in page
    assert "Ana · Web" in page


def test_each_environment_links_to_its_rollback_planner_and_dependent_workflows(web_as, viewer, two_releases):
    page = web_as(viewer).get("/features/support-assistant/").content.decode()
    for env in ("staging", "production"):
        assert f'href="/features/support-assistant/{env}/rollback/plan"' in page
        assert f'href="/features/support-assistant/{env}/impact/"' in page


def test_the_feature_page_uses_a_constant_number_of_queries(
    web_as, viewer, responder, release_factory, staging, django_assert_max_num_queries
):
    for i in range(8):
        release = release_factory(prompt=prompt_v(responder, system_prompt=f"v{i}"))
        services.deployment_record(actor=responder, environment=staging, release=release, live_at=T0 + timedelta(i))
    client = web_as(viewer)
    with django_assert_max_num_queries(10):
        assert client.get("/features/support-assistant/").status_code == 200


def test_the_release_page_shows_manifest_compatibility_and_audit_trail(web_as, viewer, approver, feature):
    from tests.rollouts.conftest import make_release

    release = make_release(approver, feature, query_encoder="e5", override_reason="e5 verified on eval set")
    page = web_as(viewer).get(f"/releases/{release.pk}/").content.decode()
    assert "meta-llama/Llama-3.1-8B-Instruct" in page
    assert "overridden by an approver: <em>e5 verified on eval set</em>" in page
    assert 'id="audit-trail"' in page and "compatibility.override" in page and "release.create" in page


def test_the_diff_page_renders_fully_and_htmx_gets_only_the_fragment(web_as, viewer, two_releases):
    r1, r2 = two_releases
    client = web_as(viewer)
    full = client.get(f"/features/support-assistant/diff/?old={r1.pk}&new={r2.pk}").content.decode()
    assert "<html" in full and 'id="diff"' in full
    assert '<div class="diff-add">+Cite two sources.</div>' in full
    fragment = client.get(
        f"/features/support-assistant/diff/?old={r2.pk}&new={r1.pk}", headers={"HX-Request": "true"}
    ).content.decode()
    assert "<html" not in fragment
    assert fragment.strip().startswith('<div id="diff">')
    assert '<div class="diff-del">-Cite two sources.</div>' in fragment


def test_a_viewer_cannot_open_the_forms(web_as, viewer, feature):
    client = web_as(viewer)
    assert client.get("/versions/model/new/").status_code == 403
    assert client.get("/features/support-assistant/releases/new/").status_code == 403
    assert client.get("/features/support-assistant/deployments/new/").status_code == 403


def test_a_viewer_recording_a_deployment_is_refused_by_the_service(web_as, viewer, release_factory, staging):
    release = release_factory()
    response = web_as(viewer).post(
        "/features/support-assistant/deployments/new/", {"environment": staging.pk, "release": release.pk}
    )
    assert response.status_code == 403
    assert "This needs the responder role (deployment.record)." in response.content.decode()
    assert DeploymentEvent.objects.count() == 0


def test_registering_a_model_twice_from_the_web_keeps_one_version(web_as, responder):
    client = web_as(responder)
    data = {
        "provider": "openai",
        "requested_alias": "gpt-4o",
        "resolved_snapshot": "gpt-4o-2024-08-06",
        "precision": "unknown",
        "decoding_params": '{"temperature": 0}',
    }
    first = client.post("/versions/model/new/", data, follow=True).content.decode()
    assert "Registered: model" in first
    second = client.post("/versions/model/new/", data, follow=True).content.decode()
    assert "Already registered (same content)" in second
    assert ModelVersion.objects.count() == 1


def test_a_bad_form_shows_field_errors_and_stores_nothing(web_as, responder):
    response = web_as(responder).post("/versions/index/new/", {"name": "kb", "dimension": "wide"})
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert "Enter a whole number." in response.content.decode()


def test_compatibility_violations_are_form_errors_and_approvers_see_the_override_field(
    web_as, responder, approver, feature
):
    model, prompt, index = model_v(responder), prompt_v(responder), index_v(responder)
    data = {"model": model.pk, "prompt": prompt.pk, "index": index.pk, "query_encoder": "e5"}
    page = web_as(responder).post("/features/support-assistant/releases/new/", data).content.decode()
    assert "queries are encoded with &#x27;e5&#x27;" in page
    assert 'name="override_reason"' not in page
    assert Release.objects.count() == 0
    client = web_as(approver)
    assert 'name="override_reason"' in client.get("/features/support-assistant/releases/new/").content.decode()
    response = client.post("/features/support-assistant/releases/new/", {**data, "override_reason": "checked"})
    release = Release.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/releases/{release.pk}/"
    assert release.compatibility_override_reason == "checked"


def test_recording_a_deployment_from_the_web(web_as, responder, release_factory, staging):
    release = release_factory()
    response = web_as(responder).post(
        "/features/support-assistant/deployments/new/",
        {"environment": staging.pk, "release": release.pk, "live_at": "2026-03-02T09:00"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and response["HX-Redirect"] == "/features/support-assistant/"
    event = DeploymentEvent.objects.get()
    assert event.via == "web" and event.actor == responder
    assert AuditEntry.objects.filter(action="deployment.record", actor=responder).exists()


@pytest.mark.parametrize("union", [True, False], ids=["union-all", "per-environment"])
def test_the_feature_page_keeps_the_newest_events_of_every_environment(
    monkeypatch, responder, release_factory, staging, production, union
):
    from django.db import connection

    from rollouts.registry.selectors import feature_history

    # False is the SQLite path (the embedded default), which cannot LIMIT inside a UNION.
    if union and not connection.features.supports_slicing_ordering_in_compound:
        pytest.skip("this database cannot LIMIT inside a UNION (SQLite): the per-environment path serves it")
    monkeypatch.setattr(connection.features, "supports_slicing_ordering_in_compound", union)

    release = release_factory()
    for i in range(5):
        services.deployment_record(actor=responder, environment=staging, release=release, live_at=T0 + timedelta(i))
    services.deployment_record(actor=responder, environment=production, release=release, live_at=T0)
    history = dict(feature_history(staging.feature, per_environment=3))
    assert [e.live_at for e in history[staging]] == [T0 + timedelta(i) for i in (4, 3, 2)]
    assert len(history[production]) == 1


def test_a_responder_rolling_back_production_gets_a_form_error(
    web_as, responder, approver, release_factory, production
):
    r1 = release_factory()
    r2 = release_factory(prompt=prompt_v(responder, system_prompt="v2"))
    services.deployment_record(actor=approver, environment=production, release=r1, live_at=T0)
    services.deployment_record(actor=approver, environment=production, release=r2, live_at=T0 + timedelta(1))
    response = web_as(responder).post(
        "/features/support-assistant/deployments/new/", {"environment": production.pk, "release": r1.pk}
    )
    assert response.status_code == 403
    assert "This needs the approver role (rollback.production)." in response.content.decode()
    assert DeploymentEvent.objects.count() == 2
