"""Builders for behaviour-diff tests: two releases of a feature, prompt sets and output files."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from diagnostics import services
from rollouts import services as rollouts_services
from rollouts.models import Feature


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def cases(n: int = 6) -> list[dict]:
    return [
        {"case_id": f"c{i}", "input": f"question {i}", "locale": "en" if i % 2 else "de", "tier": "free"}
        for i in range(n)
    ]


def outputs(n: int = 6, text=lambda i: f"answer {i}", **extra) -> list[dict]:
    return [{"case_id": f"c{i}", "output": text(i), **extra} for i in range(n)]


@pytest.fixture
def releases(admin_user, team):
    feature = Feature.objects.create(slug="support-assistant", name="Support assistant", team=team)
    prompt, _ = rollouts_services.prompt_version_register(actor=admin_user, name="support", system_prompt="Be kind.")
    found = []
    for snapshot in ("gpt-4-0314", "gpt-4-0613"):
        model, _ = rollouts_services.model_version_register(
            actor=admin_user, provider="openai", requested_alias="gpt-4", resolved_snapshot=snapshot
        )
        release, _ = rollouts_services.release_create(actor=admin_user, feature=feature, model=model, prompt=prompt)
        found.append(release)
    return found


@pytest.fixture
def prompt_set_version(responder):
    def make(rows: list[dict] | None = None, name: str = "support-golden"):
        return services.prompt_set_import(
            actor=responder, name=name, file=io.BytesIO(jsonl(rows or cases())), filename="cases.jsonl"
        )

    return make
