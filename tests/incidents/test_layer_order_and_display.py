"""One layer order everywhere (model, data, prompt, product) and timestamps that read the same everywhere."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.display import timestamp, version_label
from diagnostics.models import DiagnosisLayer, layer_sorted
from incidents.postmortem_services import postmortem_publish_problems, postmortem_start
from incidents.postmortems import postmortem_markdown, postmortem_snapshot

pytestmark = pytest.mark.django_db
ORDER = ["Model", "Data / retrieval", "Prompt", "Product / monitoring"]


def _positions(text: str) -> list[int]:
    return [text.index(label) for label in ORDER]


def test_publish_blockers_and_the_markdown_table_list_layers_in_the_one_order(responder, incident):
    postmortem = postmortem_start(actor=responder, incident=incident)
    problems = " ".join(postmortem_publish_problems(postmortem))
    assert _positions(problems) == sorted(_positions(problems))
    markdown = postmortem_markdown(postmortem_snapshot(postmortem))
    table = markdown.split("## Four-layer diagnosis")[1].split("##")[0]
    assert _positions(table) == sorted(_positions(table))


def test_the_incident_page_and_the_postmortem_page_use_the_same_order(web_as, responder, incident):
    client = web_as(responder)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    columns = [page.index(f'id="layer-{layer}"') for layer in DiagnosisLayer.values]
    assert columns == sorted(columns)
    postmortem_start(actor=responder, incident=incident)
    editor = client.get(f"/incidents/{incident.pk}/postmortem/").content.decode()
    assert _positions(editor) == sorted(_positions(editor))


def test_layer_sorted_is_the_enum_order():
    assert layer_sorted(["product", "data", "prompt", "model"]) == ["model", "data", "prompt", "product"]


def test_the_markdown_export_has_no_microseconds(responder, incident):
    markdown = postmortem_markdown(postmortem_snapshot(postmortem_start(actor=responder, incident=incident)))
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", markdown)
    assert f"- Impact: {timestamp(incident.impact_started_at)} → ongoing" in markdown


def test_timestamps_read_in_minutes_and_utc():
    moment = dt.datetime(2026, 10, 18, 14, 3, 59, 123456, tzinfo=dt.UTC)
    assert timestamp(moment) == "2026-10-18 14:03 UTC"
    assert timestamp(moment.isoformat()) == "2026-10-18 14:03 UTC"
    assert timestamp(None) == "" and timestamp(dt.date(2026, 10, 18)) == "2026-10-18"


def test_version_labels_name_releases_and_prompts(deployed):
    from rollouts.models import PromptVersion, Release

    release = Release.objects.order_by("number").first()
    assert version_label(release) == f"support-assistant #{release.number}"
    prompt = PromptVersion.objects.get(message="shorter answers")
    label = version_label(prompt)
    assert label.startswith("support · ") and prompt.content_hash[:7] in label and label.endswith("(shorter answers)")
