"""The routing table rendered in gateways' own configuration formats, so a gateway reads Rewind without glue.

Each renderer takes the routing table body (``rollouts.routing.routing_body``) and returns a JSON-able document:

* ``litellm``: a LiteLLM router ``model_list``: one deployment per release under one ``model_name`` (the
  feature), with ``litellm_params.weight`` set to the release's share (LiteLLM's simple-shuffle router picks
  deployments of the same model name in proportion to ``weight``).
* ``gateway-api``: a Kubernetes Gateway API ``HTTPRoute`` (``gateway.networking.k8s.io/v1``) with one rule whose
  weighted ``backendRefs`` are the releases' Services, named ``<feature>-r<number>``.
* ``portkey``: a Portkey config with ``strategy.mode = "loadbalance"`` and one target per release, weighted by its
  share (Portkey normalises weights), the release's model given as ``override_params.model``.

Names of backends and parents are deterministic so the same table always renders the same document.
"""

from __future__ import annotations

import re

FORMATS = ("litellm", "gateway-api", "portkey")
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


def _label(text: str, limit: int) -> str:
    return _DNS_LABEL.sub("-", text.lower()).strip("-")[:limit].strip("-") or "x"


def backend_name(feature: str, release: int) -> str:
    """A Kubernetes Service name (RFC 1123 label) for one release of a feature."""
    return f"{_label(feature, 50)}-r{release}"


def _model_of(arm: dict) -> dict:
    return arm.get("manifest", {}).get("model", {})


def _provider_model(arm: dict) -> str:
    model = _model_of(arm)
    name = model.get("resolved_snapshot") or model.get("requested_alias") or ""
    provider = model.get("provider") or ""
    return f"{provider}/{name}" if provider else name


def render_litellm(body: dict, **_options) -> dict:
    return {
        "model_list": [
            {
                "model_name": body["feature"],
                "litellm_params": {"model": _provider_model(arm), "weight": arm["weight"]},
                "model_info": {
                    "id": f"{body['feature']}-{body['environment']}-r{arm['release']}",
                    "rewind_release": arm["release"],
                    "rewind_role": arm["role"],
                },
            }
            for arm in body["releases"]
            if arm["weight"] > 0
        ]
    }


def render_gateway_api(body: dict, *, parent: str = "rewind-gateway", namespace: str = "", port: int = 80) -> dict:
    metadata = {
        "name": f"{_label(body['feature'], 40)}-{_label(body['environment'], 20)}",
        "labels": {"app.kubernetes.io/managed-by": "rewind", "rewind.dev/routing-version": str(body.get("version", 0))},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {
            "parentRefs": [{"name": parent}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": backend_name(body["feature"], arm["release"]), "port": port, "weight": arm["weight"]}
                        for arm in body["releases"]
                    ]
                }
            ],
        },
    }


def render_portkey(body: dict, **_options) -> dict:
    targets = []
    for arm in body["releases"]:
        if arm["weight"] <= 0:
            continue
        model = _model_of(arm)
        targets.append(
            {
                "provider": model.get("provider") or "openai",
                "weight": round(arm["weight"] / 100, 4),
                "override_params": {"model": model.get("resolved_snapshot") or model.get("requested_alias") or ""},
            }
        )
    return {"strategy": {"mode": "loadbalance"}, "targets": targets}


RENDERERS = {"litellm": render_litellm, "gateway-api": render_gateway_api, "portkey": render_portkey}
