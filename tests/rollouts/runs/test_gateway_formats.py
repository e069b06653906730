"""Routing table renderings for gateways, each checked against the target's documented schema."""

from __future__ import annotations

import jsonschema
import pytest

from rollouts.runs import services as runs
from tests.rollouts.factories import deploy, feature_with_envs, release

pytestmark = pytest.mark.django_db

URL = "/api/v1/routing/support-assistant/staging"

# Gateway API v1 HTTPRoute: the fields the specification marks required, and the documented bounds
# (backendRef weight 0..1,000,000; port 1..65535; names are RFC 1123 labels of at most 253/63 characters).
_NAME = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
HTTPROUTE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "HTTPRoute"},
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
        "spec": {
            "type": "object",
            "properties": {
                "parentRefs": {
                    "type": "array",
                    "maxItems": 32,
                    "items": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
                },
                "rules": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": {
                        "type": "object",
                        "properties": {
                            "backendRefs": {
                                "type": "array",
                                "maxItems": 16,
                                "items": {
                                    "type": "object",
                                    "required": ["name", "port"],
                                    "properties": {
                                        "name": _NAME,
                                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                        "weight": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                                    },
                                },
                            }
                        },
                    },
                },
            },
        },
    },
}
# LiteLLM router: model_list entries need model_name and litellm_params.model; weight is a number.
LITELLM = {
    "type": "object",
    "required": ["model_list"],
    "properties": {
        "model_list": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["model_name", "litellm_params"],
                "properties": {
                    "model_name": {"type": "string", "minLength": 1},
                    "litellm_params": {
                        "type": "object",
                        "required": ["model"],
                        "properties": {"model": {"type": "string", "minLength": 1}, "weight": {"type": "number"}},
                    },
                },
            },
        }
    },
}
# Portkey config: strategy.mode loadbalance and targets with numeric weights.
PORTKEY = {
    "type": "object",
    "required": ["strategy", "targets"],
    "properties": {
        "strategy": {"type": "object", "required": ["mode"], "properties": {"mode": {"const": "loadbalance"}}},
        "targets": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["weight"],
                "properties": {"weight": {"type": "number", "minimum": 0}, "override_params": {"type": "object"}},
            },
        },
    },
}


@pytest.fixture
def at_25(team, approver, responder):
    feature, staging, _ = feature_with_envs(team)
    stable = release(approver, feature, prompt="v1", snapshot="gpt-4-0613")
    candidate = release(approver, feature, prompt="v2", snapshot="gpt-4o-2024-08-06")
    deploy(approver, staging, stable)
    run = runs.run_start(
        actor=responder,
        environment=staging,
        candidate_release=candidate,
        steps=[{"type": "weight", "weight": 25}, {"type": "pause"}, {"type": "weight", "weight": 100}],
    )
    runs.run_advance(run_id=run.pk)
    return stable, candidate


def test_gateway_api_renders_an_httproute_with_weighted_backend_refs(at_25, api_as, viewer):
    stable, candidate = at_25
    response = api_as(viewer).get(URL, {"format": "gateway-api", "parent": "llm-gateway", "port": "8000"})
    assert response.status_code == 200
    route = response.json()
    jsonschema.validate(route, HTTPROUTE)
    assert route["spec"]["parentRefs"] == [{"name": "llm-gateway"}]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": f"support-assistant-r{stable.number}", "port": 8000, "weight": 75},
        {"name": f"support-assistant-r{candidate.number}", "port": 8000, "weight": 25},
    ]


def test_litellm_renders_a_model_list_with_one_weighted_deployment_per_release(at_25, api_as, viewer):
    stable, candidate = at_25
    body = api_as(viewer).get(URL, {"format": "litellm"}).json()
    jsonschema.validate(body, LITELLM)
    assert {d["model_name"] for d in body["model_list"]} == {"support-assistant"}
    assert [(d["litellm_params"]["model"], d["litellm_params"]["weight"]) for d in body["model_list"]] == [
        ("openai/gpt-4-0613", 75),
        ("openai/gpt-4o-2024-08-06", 25),
    ]
    assert [d["model_info"]["rewind_release"] for d in body["model_list"]] == [stable.number, candidate.number]


def test_portkey_renders_a_loadbalance_config(at_25, api_as, viewer):
    body = api_as(viewer).get(URL, {"format": "portkey"}).json()
    jsonschema.validate(body, PORTKEY)
    assert [(t["weight"], t["override_params"]["model"]) for t in body["targets"]] == [
        (0.75, "gpt-4-0613"),
        (0.25, "gpt-4o-2024-08-06"),
    ]


def test_a_rendering_has_its_own_etag_and_answers_304(at_25, api_as, viewer):
    client = api_as(viewer)
    plain = client.get(URL)["ETag"]
    first = client.get(URL, {"format": "litellm"})
    assert first["ETag"] != plain
    again = client.get(URL, {"format": "litellm"}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert client.get(URL, {"format": "portkey"}, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_an_unknown_format_or_bad_port_is_a_400_with_the_field(at_25, api_as, viewer):
    client = api_as(viewer)
    bad = client.get(URL, {"format": "nginx"})
    assert bad.status_code == 400 and "litellm" in bad.json()["format"][0]
    assert client.get(URL, {"format": "gateway-api", "port": "99999"}).json()["port"]


def test_renderings_need_a_token(at_25, api_as):
    assert api_as(None).get(URL, {"format": "litellm"}).status_code == 401
