"""The bodies other tools expect: a PagerDuty Events v2 change event (``POST /v2/change/enqueue``) and a CDEvent
(``dev.cdevents.service.deployed`` / ``service.rolledback``, sent in CloudEvents binary mode)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from rollouts.runs.change_events.models import ChangeEventFormat, ChangeKind

CDEVENTS_SPEC_VERSION = "0.4.1"
CDEVENT_TYPES = {
    ChangeKind.DEPLOYED: "dev.cdevents.service.deployed.0.2.0",
    ChangeKind.STEP: "dev.cdevents.service.deployed.0.2.0",
    ChangeKind.ROLLED_BACK: "dev.cdevents.service.rolledback.0.2.0",
}


@dataclass
class Change:
    kind: str
    key: str  # stable per change: "deployment42", "run7-step2"
    feature: str
    environment: str
    release: int
    manifest_hash: str
    occurred_at: str
    summary: str
    url: str
    weight: int | None = None
    run: int | None = None

    @property
    def details(self) -> dict:
        out = {
            "change": self.kind,
            "feature": self.feature,
            "environment": self.environment,
            "release": self.release,
            "manifest_hash": self.manifest_hash,
        }
        if self.weight is not None:
            out["candidate_weight_percent"] = self.weight
        if self.run is not None:
            out["rollout_run"] = self.run
        return out


def pagerduty_change(change: Change) -> dict:
    """The change-event body without ``routing_key`` (added when sending, so it is not kept in the outbox row)."""
    return {
        "payload": {
            "summary": change.summary[:1024],
            "timestamp": change.occurred_at,
            "source": "rewind",
            "custom_details": change.details,
        },
        "links": [{"href": change.url, "text": f"{change.feature} release #{change.release} in Rewind"}],
    }


def cdevent(change: Change, *, event_id: str) -> dict:
    site = settings.SITE_URL.rstrip("/")
    service_id = f"{change.feature}/{change.environment}"
    return {
        "context": {
            "specversion": CDEVENTS_SPEC_VERSION,
            "id": event_id,
            "source": site,
            "type": CDEVENT_TYPES[change.kind],
            "timestamp": change.occurred_at,
        },
        "subject": {
            "id": service_id,
            "source": site,
            "type": "service",
            "content": {
                "environment": {"id": change.environment, "source": f"{site}/features/{change.feature}/"},
                "artifactId": f"pkg:generic/{change.feature}@{change.release}?manifest_hash={change.manifest_hash}",
            },
        },
        "customData": change.details,
        "customDataContentType": "application/json",
    }


def body_for(fmt: str, change: Change, *, idempotency_key: str) -> dict:
    if fmt == ChangeEventFormat.PAGERDUTY:
        return pagerduty_change(change)
    # The event id is derived from the key, so a re-send is recognisably the same CDEvent.
    return cdevent(change, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key)))


def headers_for(fmt: str, payload: dict) -> dict:
    if fmt != ChangeEventFormat.CDEVENTS:
        return {}
    context = payload["context"]
    return {
        "ce-specversion": "1.0",
        "ce-id": context["id"],
        "ce-type": context["type"],
        "ce-source": context["source"],
        "ce-time": context["timestamp"],
    }
