from __future__ import annotations

import json

import pytest

from core.models import AuditEntry
from diagnostics.models import PromptCase, PromptSet, PromptSetVersion
from tests.diagnostics.reports.conftest import cases, jsonl, upload

pytestmark = pytest.mark.django_db


def post_import(client, name: str, content: bytes, filename: str = "cases.jsonl", **extra):
    return client.post(
        "/api/v1/prompt-sets/import/", {"name": name, "file": upload(filename, content), **extra}, format="multipart"
    )


def assert_nothing_stored():
    assert not PromptSet.objects.exists()
    assert not PromptSetVersion.objects.exists()
    assert not PromptCase.objects.exists()


def test_it_imports_a_jsonl_set_with_segments_schema_and_how_it_was_sampled(api_as, responder):
    rows = cases(4)
    rows[0]["schema"] = {"type": "object", "required": ["answer"]}
    rows[1]["expected"] = "Hallo"
    response = post_import(
        api_as(responder),
        "support-golden",
        jsonl(rows),
        sampled_from="2026-11-01T00:00:00Z",
        sampled_until="2026-11-08T00:00:00Z",
        sampling_filters=json.dumps({"tenant": "acme"}),
        sampling_notes="1% of tickets, stratified by locale",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == 1 and body["case_count"] == 4
    assert body["segment_fields"] == ["locale", "tier"]
    assert body["sampling_filters"] == {"tenant": "acme"}
    case = PromptCase.objects.get(case_id="c0")
    assert case.segments == {"locale": "de", "tier": "free"} and case.json_schema["required"] == ["answer"]
    assert PromptCase.objects.get(case_id="c1").expected == "Hallo"
    assert AuditEntry.objects.filter(action="prompt_set_version.create").count() == 1


def test_a_second_import_of_the_same_name_is_a_new_immutable_version(api_as, admin_user):
    client = api_as(admin_user)
    post_import(client, "golden", jsonl(cases(2)))
    second = post_import(client, "golden", jsonl(cases(3)))
    assert second.json()["number"] == 2
    versions = client.get("/api/v1/prompt-set-versions/").json()["results"]
    assert sorted(v["case_count"] for v in versions) == [2, 3]
    version_id = second.json()["id"]
    assert client.put(f"/api/v1/prompt-set-versions/{version_id}/", {}).status_code == 405
    assert client.delete(f"/api/v1/prompt-set-versions/{version_id}/").status_code == 405
    assert client.get(f"/api/v1/prompt-set-versions/{version_id}/cases/").json()["count"] == 3


def test_it_imports_csv_with_extra_columns_as_segments(api_as, responder):
    content = 'case_id,input,locale,schema\nq1,"Hello, world",en,\nq2,"multi\nline",fr,"{""type"": ""object""}"\n'
    response = post_import(api_as(responder), "csv-set", content.encode(), filename="cases.csv")
    assert response.status_code == 201, response.json()
    assert response.json()["segment_fields"] == ["locale"]
    assert PromptCase.objects.get(case_id="q2").input == "multi\nline"
    assert PromptCase.objects.get(case_id="q2").json_schema == {"type": "object"}


def test_a_malformed_jsonl_line_is_reported_with_its_line_number(api_as, responder):
    content = jsonl(cases(3)) + b'{"case_id": "c9", "input": \n' + jsonl(cases(1))
    response = post_import(api_as(responder), "broken", content)
    assert response.status_code == 400
    assert response.json()["file"] == ["Line 4 is not valid JSON: Expecting value (at character 29)."]
    assert_nothing_stored()


def test_a_non_utf8_file_gets_a_clear_encoding_error(api_as, responder):
    content = jsonl(cases(2)) + '{"case_id": "c7", "input": "café"}\n'.encode("latin-1")
    response = post_import(api_as(responder), "latin", content)
    assert response.status_code == 400
    [message] = response.json()["file"]
    assert message.startswith("Line 3 is not valid UTF-8 (byte 0xe9") and "Save the file as UTF-8" in message
    assert_nothing_stored()


def test_duplicate_ids_missing_fields_and_bad_schemas_are_all_listed(api_as, responder):
    rows = [
        {"case_id": "a", "input": "x"},
        {"case_id": "a", "input": "y"},
        {"input": "no id"},
        {"case_id": "b", "input": ""},
        {"case_id": "c", "input": "z", "schema": {"type": "nonsense"}},
    ]
    response = post_import(api_as(responder), "dupes", jsonl(rows))
    assert response.status_code == 400
    messages = response.json()["file"]
    assert messages[0] == "Line 2: case id 'a' already appears on line 1."
    assert messages[1] == "Line 3: case_id is missing."
    assert messages[2] == "Line 4: input is empty for case 'b'."
    assert messages[3].startswith("Line 5: schema is not a valid JSON Schema")
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("empty.jsonl", b"", "The submitted file is empty."),
        ("blank.jsonl", b"\n\n", "blank.jsonl: the file has no cases."),
        ("blank.csv", b"case_id,input\n", "blank.csv: the file has no cases."),
        ("cases.txt", b"x", "cases.txt: use a .jsonl or .csv file."),
        ("ragged.csv", b"case_id,input\na,b,c\n", "Line 2 has 3 columns; the header has 2."),
        ("list.jsonl", b"[1, 2]\n", "Line 1 must be a JSON object, not list."),
    ],
)
def test_empty_unknown_and_ragged_files_are_refused(api_as, responder, filename, content, message):
    response = post_import(api_as(responder), "bad", content, filename=filename)
    assert response.status_code == 400
    assert response.json()["file"] == [message]
    assert_nothing_stored()


def test_a_sampling_window_that_ends_before_it_starts_is_refused(api_as, responder):
    response = post_import(
        api_as(responder),
        "w",
        jsonl(cases(1)),
        sampled_from="2026-11-08T00:00:00Z",
        sampled_until="2026-11-01T00:00:00Z",
    )
    assert response.status_code == 400 and "sampled_until" in response.json()
    assert_nothing_stored()


def test_the_web_form_imports_and_shows_errors_on_the_form(web_as, responder):
    client = web_as(responder)
    bad = client.post("/prompt-sets/", {"name": "web", "file": upload("c.jsonl", b'{"case_id": 1,\n')})
    assert bad.status_code == 400
    assert "Line 1 is not valid JSON" in bad.content.decode()
    assert_nothing_stored()
    good = client.post("/prompt-sets/", {"name": "web", "file": upload("c.jsonl", jsonl(cases(3)))})
    version = PromptSetVersion.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/prompt-sets/versions/{version.pk}/"
    page = client.get(good["Location"]).content.decode()
    assert "question 2" in page and "locale=en" in page


def test_file_uploads_have_their_own_larger_body_limit(api_as, responder, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    content = jsonl(cases(60))
    assert len(content) > 1000
    client = api_as(responder)
    assert post_import(client, "big", content).status_code == 201
    settings.BODY_SIZE_LIMITS_BY_PATH = {**settings.BODY_SIZE_LIMITS_BY_PATH, "/api/v1/prompt-sets/import/": 2000}
    response = post_import(client, "bigger", content)
    assert response.status_code == 400
    assert "the limit is 2000 bytes" in response.json()["detail"]
    big_json = client.post("/api/v1/prompt-set-versions/1/coverage/", {"field": "x" * 2000}, format="json")
    assert big_json.status_code == 400 and "the limit is 1000 bytes" in big_json.json()["detail"]
