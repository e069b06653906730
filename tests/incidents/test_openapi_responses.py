"""Responses of the operations whose schema once disagreed with them, validated against the generated OpenAPI
schema (nullable fields that are null here; plain lists declared as plain lists)."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


def _json_schema(node):
    """OpenAPI 3.0 'nullable: true' as JSON Schema ('type' also allows null); refs point into the document."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def assert_conforms(openapi, path: str, method: str, response) -> None:
    operation = openapi["paths"][path][method]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    document = _json_schema({"components": copy.deepcopy(openapi["components"])})
    jsonschema.validate(response.json(), {**_json_schema(schema), "components": document["components"]})


def test_incident_answers_match_the_schema_with_no_commander(openapi, api_as, viewer, incident):
    client = api_as(viewer)
    assert incident.commander is None
    detail = client.get(f"/api/v1/incidents/{incident.pk}/")
    assert_conforms(openapi, "/api/v1/incidents/{id}/", "get", detail)
    assert_conforms(openapi, "/api/v1/incidents/", "get", client.get("/api/v1/incidents/"))
    for name in ("timeline", "similar", "layer-suggestions"):
        response = client.get(f"/api/v1/incidents/{incident.pk}/{name}/")
        assert isinstance(response.json(), list), name
        assert_conforms(openapi, f"/api/v1/incidents/{{id}}/{name}/", "get", response)


def test_layer_diagnoses_with_a_first_owner_match_the_schema(openapi, api_as, viewer, incident):
    layer = incident.layer_diagnoses.first()
    response = api_as(viewer).get(f"/api/v1/layer-diagnoses/{layer.pk}/")
    assert response.json()["assignments"][0]["from_owner"] is None
    assert_conforms(openapi, "/api/v1/layer-diagnoses/{id}/", "get", response)


def test_postmortem_revisions_are_a_plain_list(openapi, api_as, responder, approver, incident):
    from incidents.postmortem_services import postmortem_start

    postmortem = postmortem_start(actor=responder, incident=incident)
    response = api_as(approver).get(f"/api/v1/postmortems/{postmortem.pk}/revisions/")
    assert response.json() == []
    assert_conforms(openapi, "/api/v1/postmortems/{id}/revisions/", "get", response)


def test_a_release_without_an_index_matches_the_schema(openapi, api_as, viewer, admin_user, feature):
    from rollouts.registry import services as registry

    model, _ = registry.model_version_register(
        actor=admin_user, provider="openai", requested_alias="gpt-4o", resolved_snapshot="gpt-4o-2024-08-06"
    )
    prompt, _ = registry.prompt_version_register(actor=admin_user, name="support", system_prompt="Be brief.")
    registry.release_create(actor=admin_user, feature=feature, model=model, prompt=prompt)
    response = api_as(viewer).get("/api/v1/releases/")
    assert [r["index"] for r in response.json()["results"]] == [None]
    assert_conforms(openapi, "/api/v1/releases/", "get", response)
