from __future__ import annotations

import json

import pytest

from core.models import AuditEntry
from diagnostics.models import BehaviourReport, Output, ReportStatus
from tests.diagnostics.reports.conftest import jsonl, outputs, report_form, upload

pytestmark = pytest.mark.django_db


def request_report(client, version, releases, a: bytes, b: bytes, *, names=("a.jsonl", "b.jsonl"), **extra):
    return client.post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "outputs_a": upload(names[0], a),
            "outputs_b": upload(names[1], b),
            **extra,
        },
        format="multipart",
    )


def assert_nothing_stored():
    assert not BehaviourReport.objects.exists()
    assert not Output.objects.exists()


def test_it_pairs_uploaded_outputs_by_case_id_and_queues_the_report(
    api_as, responder, releases, prompt_set_version, django_capture_on_commit_callbacks
):
    version = prompt_set_version()
    a = jsonl(outputs(6, latency_ms=120, cost=0.001))
    b = jsonl(list(reversed(outputs(6, text=lambda i: f"new answer {i}"))))
    with django_capture_on_commit_callbacks() as callbacks:
        response = request_report(
            api_as(responder), version, releases, a, b, title="0314 vs 0613", options=json.dumps({"alpha": 0.01})
        )
    assert response.status_code == 201, response.json()
    report = BehaviourReport.objects.get()
    assert report.status == ReportStatus.QUEUED and report.samples == 1
    assert report.options["alpha"] == 0.01 and report.options["segment_fields"] == ["locale", "tier"]
    assert Output.objects.filter(report=report, side="a").count() == 6
    assert Output.objects.get(report=report, side="b", case__case_id="c2").text == "new answer 2"
    assert Output.objects.get(report=report, side="a", case__case_id="c2").latency_ms == 120
    assert len(callbacks) == 1, "the worker is asked only after the commit"
    assert AuditEntry.objects.filter(action="behaviour_report.request", object_id=str(report.pk)).exists()


def test_k_samples_per_case_are_paired_per_sample(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    rows = [{"case_id": f"c{i}", "sample": k, "output": f"a{i}-{k}"} for i in range(6) for k in range(3)]
    response = request_report(api_as(responder), version, releases, jsonl(rows), jsonl(rows))
    assert response.status_code == 201, response.json()
    assert BehaviourReport.objects.get().samples == 3


def test_unpaired_case_ids_are_listed_per_file_and_nothing_is_stored(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    response = request_report(api_as(responder), version, releases, jsonl(outputs(6)), jsonl(outputs(4)))
    assert response.status_code == 400
    assert response.json() == {"outputs_a": ["2 outputs have no pair in release B's file: 'c4', 'c5'."]}
    assert_nothing_stored()


def test_case_ids_not_in_the_prompt_set_are_refused(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    extra = [*outputs(6), {"case_id": "zz", "output": "?"}]
    response = request_report(api_as(responder), version, releases, jsonl(extra), jsonl(outputs(6)))
    assert response.status_code == 400
    assert response.json()["outputs_a"] == [f"1 case ids are not in {version}: line 7: 'zz'."]
    assert_nothing_stored()


def test_empty_outputs_are_reported_with_their_line(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    b = outputs(6)
    b[3]["output"] = "   "
    response = request_report(api_as(responder), version, releases, jsonl(outputs(6)), jsonl(b))
    assert response.status_code == 400
    assert response.json()["outputs_b"] == ["Line 4: output is empty for case 'c3'."]
    assert_nothing_stored()


def test_wrong_encodings_and_malformed_lines_name_the_file_and_line(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    latin = "case_id,output\nc0,réponse\n".encode("cp1252")
    response = request_report(
        api_as(responder), version, releases, latin, jsonl(outputs(6)), names=("a.csv", "b.jsonl")
    )
    assert response.status_code == 400
    assert response.json()["outputs_a"][0].startswith("Line 2 is not valid UTF-8 (byte 0xe9")
    broken = jsonl(outputs(2)) + b"{nope}\n"
    response = request_report(api_as(responder), version, releases, jsonl(outputs(6)), broken)
    assert response.json()["outputs_b"][0].startswith("Line 3 is not valid JSON")
    assert_nothing_stored()


def test_bad_numbers_and_duplicate_samples_are_refused(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    rows = outputs(6)
    rows[0]["latency_ms"] = "fast"
    rows[1]["cost"] = -1
    rows.append({"case_id": "c2", "output": "again"})
    response = request_report(api_as(responder), version, releases, jsonl(rows), jsonl(outputs(6)))
    assert response.json()["outputs_a"] == [
        "Line 1: latency_ms must be a number, got 'fast'.",
        "Line 2: cost must not be negative.",
        "Line 7: case 'c2' sample 0 already appears on line 3.",
    ]
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"segment_fields": ["planet"]}, "segment_fields"),
        ({"alpha": 2}, "alpha"),
        ({"refusal_patterns": ["(unclosed"]}, "refusal_patterns"),
        ({"colour": "blue"}, "options"),
    ],
)
def test_bad_options_are_refused(api_as, responder, releases, prompt_set_version, options, field):
    version = prompt_set_version()
    response = request_report(
        api_as(responder), version, releases, jsonl(outputs(6)), jsonl(outputs(6)), options=json.dumps(options)
    )
    assert response.status_code == 400 and field in response.json(), response.json()
    assert_nothing_stored()


def test_missing_files_and_live_without_endpoints_are_refused(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    client = api_as(responder)
    body = {"prompt_set_version": version.pk, "release_a": releases[0].pk, "release_b": releases[1].pk}
    response = client.post("/api/v1/reports/", body, format="json")
    assert response.json() == {"outputs_a": ["Upload the outputs file."], "outputs_b": ["Upload the outputs file."]}
    response = client.post("/api/v1/reports/", {**body, "source": "live"}, format="json")
    assert response.json() == {
        "release_a": ["This release has no generation endpoint configured."],
        "release_b": ["This release has no generation endpoint configured."],
    }
    assert_nothing_stored()


def test_the_web_form_shows_pairing_errors_on_the_file_fields(web_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    response = web_as(responder).post(
        "/reports/new/", report_form(version, releases, jsonl(outputs(6)), jsonl(outputs(5)))
    )
    assert response.status_code == 400
    assert "1 outputs have no pair in release B&#x27;s file: &#x27;c5&#x27;." in response.content.decode()
    assert_nothing_stored()
