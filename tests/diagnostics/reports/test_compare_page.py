"""The "compare two files" page: two uploads, the report's rendering, no feature or release, nothing stored."""

from __future__ import annotations

import json

import pytest

from diagnostics.models import BehaviourReport
from tests.diagnostics.reports.conftest import jsonl, upload

pytestmark = pytest.mark.django_db

HELP = "Open the settings page, pick the tenant and save; the change applies within a minute."
REFUSAL = "I'm sorry, but I can't help with that."


def alpaca(generator: str, refuse: set[int] = frozenset(), n: int = 40) -> bytes:
    rows = [
        {
            "instruction": f"How do I change setting {i}?",
            "output": REFUSAL if i in refuse else f"For setting {i}: {HELP}",
            "generator": generator,
            "dataset": "helpful" if i % 2 else "koala",
        }
        for i in range(n)
    ]
    return json.dumps(rows).encode()


def post(client, a: bytes, b: bytes, **fields):
    data = {"file_a": upload("a.json", a), "file_b": upload("b.json", b), "alpha": "0.05", **fields}
    return client.post("/reports/compare/", data)


def test_it_needs_a_login(client):
    response = client.get("/reports/compare/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_two_files_give_the_report_rendering_with_sides_named_after_their_generators(web_as, viewer):
    response = post(web_as(viewer), alpaca("model-v1"), alpaca("model-v2", refuse=set(range(0, 40, 2))))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="overall-verdict">regression<' in html
    assert "A = <strong>model-v1</strong>, B = <strong>model-v2</strong>" in html
    assert 'id="metric-table"' in html and "+50.0 pp" in html
    assert "40 answer pairs, paired by instruction" in html
    assert BehaviourReport.objects.count() == 0  # nothing is stored


def test_the_json_download_is_the_report_document(web_as, viewer):
    response = post(web_as(viewer), alpaca("model-v1"), alpaca("model-v2"), export="json", segment_fields="dataset")
    document = response.json()
    assert response["Content-Disposition"].endswith('compare.json"')
    assert document["sides"] == {"a": "model-v1", "b": "model-v2"}
    assert {"verdict", "metrics", "segments", "flip_matrices", "top_changes", "options"} <= set(document)
    assert document["verdict"] == "no_significant_change"
    assert {s["value"] for s in document["segments"]} == {"helpful", "koala"}


def test_a_bad_file_is_a_form_error_on_that_file(web_as, viewer):
    response = post(web_as(viewer), alpaca("model-v1"), b'[{"instruction": "x"}]')
    assert response.status_code == 400
    assert "b.json record 1: no answer text" in response.content.decode()


def test_pattern_hits_are_counted_before_the_comparison_runs_and_zero_matches_are_flagged(web_as, viewer):
    client = web_as(viewer)
    a, b = alpaca("model-v1"), alpaca("model-v2", refuse={1, 2, 3})
    fragment = client.post(
        "/reports/compare/",
        {
            "file_a": upload("a.json", a),
            "file_b": upload("b.json", b),
            "refusal_patterns": "^i'm sorry\ncomputer says no",
            "preview": "1",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<html" not in fragment and fragment.startswith('<div id="pattern-preview"')
    assert "<td><code>^i&#x27;m sorry</code></td><td>0</td><td>3</td>" in fragment
    assert fragment.count("matches nothing") == 1
    page = client.post(
        "/reports/compare/",
        {
            "file_a": upload("a.json", a),
            "file_b": upload("b.json", b),
            "refusal_patterns": "^i'm sorry",
            "preview": "1",
        },
    ).content.decode()
    assert "<html" in page and 'id="pattern-hits"' in page


def test_the_report_form_counts_pattern_hits_on_the_uploaded_outputs(web_as, responder):
    outputs_a = jsonl([{"case_id": f"c{i}", "output": "Sure, here it is."} for i in range(4)])
    outputs_b = jsonl([{"case_id": f"c{i}", "output": "Nope, not doing that."} for i in range(4)])
    fragment = (
        web_as(responder)
        .post(
            "/reports/new/",
            {
                "outputs_a": upload("a.jsonl", outputs_a),
                "outputs_b": upload("b.jsonl", outputs_b),
                "refusal_patterns": "^nope",
                "preview": "1",
            },
            HTTP_HX_REQUEST="true",
        )
        .content.decode()
    )
    assert "<td><code>^nope</code></td><td>0</td><td>4</td>" in fragment
    assert BehaviourReport.objects.count() == 0
