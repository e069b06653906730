from __future__ import annotations

import pytest

from diagnostics.reports.coverage import coverage_compare

pytestmark = pytest.mark.django_db


def test_a_set_that_matches_production_has_no_warnings():
    result = coverage_compare({"en": 60, "de": 30, "fr": 10}, {"en": 6000, "de": 3000, "fr": 1000})
    assert result["warnings"] == []
    assert result["chi2"] == pytest.approx(0.0) and result["p_value"] == pytest.approx(1.0)
    assert {r["status"] for r in result["segments"]} == {"ok"}


def test_under_over_missing_and_unseen_segments_are_named():
    result = coverage_compare({"en": 90, "de": 5, "xx": 5}, {"en": 5000, "de": 4000, "fr": 1000})
    status = {r["value"]: r["status"] for r in result["segments"]}
    assert status == {"en": "ok", "de": "under", "fr": "missing", "xx": "unseen"}
    assert result["p_value"] < 0.001
    assert any(w == "'de' is under-represented: 5.0% of the set vs 40.0% in production." for w in result["warnings"])
    assert any(w.startswith("'fr': 10.0% of production traffic but no case") for w in result["warnings"])
    over = coverage_compare({"en": 50, "de": 50}, {"en": 9000, "de": 1000})
    assert {r["value"]: r["status"] for r in over["segments"]}["de"] == "over"


def test_no_production_traffic_is_a_warning_not_a_crash():
    assert coverage_compare({"en": 3}, {})["warnings"] == ["No production traffic to compare with."]


def test_the_api_compares_a_version_with_entered_production_counts(api_as, viewer, prompt_set_version):
    version = prompt_set_version()  # 3 'en', 3 'de'
    response = api_as(viewer).post(
        f"/api/v1/prompt-set-versions/{version.pk}/coverage/",
        {"field": "locale", "production_counts": {"en": 900, "de": 100}},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["source"] == "entered"
    assert {r["value"]: r["status"] for r in body["segments"]} == {"en": "ok", "de": "over"}


def test_unknown_fields_and_missing_counts_get_clear_errors(api_as, viewer, prompt_set_version):
    version = prompt_set_version()
    client = api_as(viewer)
    url = f"/api/v1/prompt-set-versions/{version.pk}/coverage/"
    response = client.post(url, {"field": "planet", "production_counts": {"x": 1}})
    assert response.status_code == 400 and "has no segment field 'planet'" in response.json()["field"][0]


def test_the_page_shows_coverage_warnings_from_pasted_counts(web_as, viewer, prompt_set_version):
    version = prompt_set_version()
    client = web_as(viewer)
    page = client.post(
        f"/prompt-sets/versions/{version.pk}/", {"field": "locale", "production_counts": "en,990\nde,10"}
    )
    assert page.status_code == 200
    assert "&#x27;de&#x27; is over-represented" in page.content.decode()
    bad = client.post(f"/prompt-sets/versions/{version.pk}/", {"field": "locale", "production_counts": "en;lots"})
    assert bad.status_code == 400 and "Line 1: expected" in bad.content.decode()


def test_coverage_reads_production_observations_of_the_sets_feature(api_as, admin_user, responder, releases):
    import io
    from datetime import timedelta

    from django.utils import timezone

    from diagnostics.reports.services import prompt_set_import
    from rollouts.judging.observations import observations_ingest
    from rollouts.models import Environment
    from tests.diagnostics.reports.conftest import cases, jsonl

    feature = releases[0].feature
    Environment.objects.create(feature=feature, name="production", is_production=True)
    Environment.objects.create(feature=feature, name="staging")
    at = (timezone.now() - timedelta(minutes=5)).isoformat()
    record = {"feature": feature.slug, "release": releases[1].number, "time": at, "latency_ms": 120.0}
    observations_ingest(
        actor=admin_user,
        records=[{**record, "environment": "production", "segment": {"locale": "en"}}] * 90
        + [{**record, "environment": "production", "segment": {"locale": "de"}}] * 10
        + [{**record, "environment": "staging", "segment": {"locale": "de"}}] * 500,  # not production traffic
    )
    version = prompt_set_import(
        actor=responder, name="with-feature", file=io.BytesIO(jsonl(cases())), filename="c.jsonl", feature=feature
    )
    response = api_as(responder).post(f"/api/v1/prompt-set-versions/{version.pk}/coverage/", {"field": "locale"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["source"] == "observations"
    rows = {r["value"]: (r["production_count"], r["status"]) for r in body["segments"]}
    assert rows == {"en": (90, "ok"), "de": (10, "over")}
