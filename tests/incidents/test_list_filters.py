"""The incident list's feature filter and free-text search, as a viewer uses them (web fragment and API)."""

from __future__ import annotations

from incidents.services import incident_open
from rollouts.models import Environment, Feature

HX = {"HTTP_HX_REQUEST": "true"}


def test_feature_filter_and_search_find_exactly_the_matching_incidents(web_as, api_as, viewer, responder, production):
    other = Feature.objects.create(slug="search-ranker", name="Search ranker", team=production.feature.team)
    ranker = Environment.objects.create(feature=other, name="production", is_production=True)
    incident_open(
        actor=responder,
        title="Refusals up",
        summary="Mistral snapshot declines",
        severity="sev2",
        feature_environments=[production],
    )
    incident_open(
        actor=responder, title="Refusals up", summary="ranker threshold", severity="sev2", feature_environments=[ranker]
    )
    incident_open(
        actor=responder,
        title="JSON invalid",
        summary="schema drift",
        severity="sev3",
        feature_environments=[production, ranker],
    )
    client = web_as(viewer)

    both = client.get("/incidents/?feature=support-assistant", **HX).content.decode()
    assert "2 incidents on this page" in both and "ranker threshold" not in both
    sev2 = client.get("/incidents/?feature=search-ranker&severity=sev2", **HX).content.decode()
    assert "1 incident on this page" in sev2
    assert "0 incidents on this page" in client.get("/incidents/?feature=no-such-feature", **HX).content.decode()

    # Search reads title and summary together, case-insensitively, as a substring.
    assert "1 incident on this page" in client.get("/incidents/?q=MISTRAL snap", **HX).content.decode()
    assert "2 incidents on this page" in client.get("/incidents/?q=refusals", **HX).content.decode()
    assert "1 incident on this page" in client.get("/incidents/?q=up Mistral", **HX).content.decode()

    api = api_as(viewer).get("/api/v1/incidents/?q=schema+drift").json()
    assert [row["title"] for row in api["results"]] == ["JSON invalid"]
