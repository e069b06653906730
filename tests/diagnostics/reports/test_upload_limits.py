"""Uploaded files with NUL characters, NaN/Infinity numbers or absurd nesting: refused by line, nothing stored."""

from __future__ import annotations

import pytest

from diagnostics.models import BehaviourReport, Output, PromptCase, PromptSet
from tests.diagnostics.reports.conftest import cases, jsonl, outputs, upload

pytestmark = pytest.mark.django_db


def _import(client, content: bytes, filename: str):
    return client.post(
        "/api/v1/prompt-sets/import/", {"name": "golden", "file": upload(filename, content)}, format="multipart"
    )


def _report(client, version, releases, a: bytes, b: bytes, name_a="a.jsonl", name_b="b.jsonl"):
    return client.post(
        "/api/v1/reports/",
        {
            "prompt_set_version": version.pk,
            "release_a": releases[0].pk,
            "release_b": releases[1].pk,
            "outputs_a": upload(name_a, a),
            "outputs_b": upload(name_b, b),
        },
        format="multipart",
    )


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("cases.jsonl", jsonl(cases(2)) + b'{"case_id": "c9", "input": "raw\x00nul"}\n'),
        ("cases.jsonl", jsonl(cases(2)) + b'{"case_id": "c9", "input": "escaped \\u0000 nul"}\n'),
        ("cases.csv", b"case_id,input\nc1,hello\nc2,bad\x00byte\n"),
    ],
)
def test_a_prompt_set_with_a_nul_character_is_refused_by_line(api_as, responder, filename, content):
    response = _import(api_as(responder), content, filename)
    assert response.status_code == 400, response.content
    assert "NUL" in str(response.json()) and "Line 3" in str(response.json())
    assert not PromptSet.objects.exists() and not PromptCase.objects.exists()


def test_outputs_with_a_nul_character_are_refused(api_as, responder, releases, prompt_set_version):
    version = prompt_set_version()
    bad = b"case_id,output\n" + b"".join(f"c{i},answer {i}\n".encode() for i in range(5)) + b"c5,x\x00y\n"
    response = _report(api_as(responder), version, releases, bad, jsonl(outputs()), name_a="a.csv")
    assert response.status_code == 400 and "NUL" in str(response.json()["outputs_a"])
    assert not BehaviourReport.objects.exists() and not Output.objects.exists()


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("a.jsonl", b'{"case_id": "c0", "output": "x", "latency_ms": NaN}\n', "NaN"),
        ("a.jsonl", b'{"case_id": "c0", "output": "x", "latency_ms": Infinity}\n', "Infinity"),
        ("a.csv", b"case_id,output,latency_ms\nc0,x,nan\n", "finite"),
        ("a.csv", b"case_id,output,latency_ms\nc0,x,inf\n", "finite"),
        ("a.jsonl", b'{"case_id": "c0", "output": "x", "meta": ' + b"[" * 5000 + b"]" * 5000 + b"}\n", "nested"),
    ],
)
def test_non_finite_numbers_and_deep_nesting_in_outputs_are_refused(
    api_as, responder, releases, prompt_set_version, filename, content, message
):
    version = prompt_set_version()
    rest = b"".join(jsonl([o]) for o in outputs()[1:]) if filename.endswith("jsonl") else b""
    if filename.endswith("csv"):
        rest = b"".join(f"c{i},answer {i},100\n".encode() for i in range(1, 6))
    response = _report(api_as(responder), version, releases, content + rest, jsonl(outputs()), name_a=filename)
    assert response.status_code == 400, response.content
    assert message in str(response.json()["outputs_a"])
    assert not BehaviourReport.objects.exists()
