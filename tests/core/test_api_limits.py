"""Limits every list endpoint and every body shares: bounded pages, a 400 for an absurd offset, never a 500."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db


def _list_endpoints() -> list[str]:
    """Every /api/v1/<name>/ collection route, read from the URL configuration (so new ones are covered)."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif (
                isinstance(p, URLPattern)
                and route.startswith("api/v1/")
                and "<" not in route
                and "(?P" not in route
                and getattr(p.callback, "actions", {}).get("get") == "list"
            ):
                found.append("/" + route.replace("^", "").replace("$", "").replace("\\", ""))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


def test_there_are_list_endpoints_to_check():
    assert len(_list_endpoints()) >= 15, _list_endpoints()


def test_a_huge_limit_is_capped_and_a_huge_offset_is_a_400_on_every_list_endpoint(api_as, admin_user):
    client = api_as(admin_user)
    for path in _list_endpoints():
        path = path.rstrip("?").replace("/?", "/")
        capped = client.get(path, {"limit": "9223372036854775808"})
        assert capped.status_code == 200, (path, capped.content[:300])
        far = client.get(path, {"offset": "9223372036854775808"})
        assert far.status_code in (200, 400), (path, far.content[:300])
        if far.status_code == 400:
            assert "offset" in far.json()


def test_the_observations_body_limit_names_its_own_setting(api_as, admin_user, settings):
    settings.BODY_SIZE_LIMITS_BY_PATH = {**settings.BODY_SIZE_LIMITS_BY_PATH, "/api/v1/observations": 100}
    response = api_as(admin_user).post("/api/v1/observations", {"records": ["x" * 200]}, format="json")
    assert response.status_code == 400
    assert "REWIND_OBSERVATIONS_MAX_BODY_BYTES" in response.json()["detail"]
    other = api_as(admin_user).post("/api/v1/change-events/", {"title": "y" * 3_000_000}, format="json")
    assert other.status_code == 400 and "(REWIND_MAX_BODY_BYTES)" in other.json()["detail"]


def test_json_nested_100000_deep_sent_to_observations_is_a_400(api_as, admin_user):
    body = '{"records": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api_as(admin_user).generic("POST", "/api/v1/observations", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["detail"]


def test_nan_in_an_observation_is_a_400(api_as, admin_user):
    body = '{"records": [{"latency_ms": NaN}]}'
    response = api_as(admin_user).generic("POST", "/api/v1/observations", body, content_type="application/json")
    assert response.status_code == 400 and "NaN" in response.json()["detail"]
