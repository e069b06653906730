"""Pairwise preference over a local server speaking the chat-completions wire format."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diagnostics.reports.generation import EndpointConfig
from diagnostics.reports.preference import parse_verdict, preference_judge
from tests.support.openai_server import OpenAIServer


def answers_in(prompt: str) -> tuple[str, str]:
    match = re.search(r"\[Answer 1\]\n(.*)\n\n\[Answer 2\]\n(.*)\n\nWhich answer", prompt, re.DOTALL)
    return match.group(1), match.group(2)


def fair_judge(model: str, prompt: str) -> str:
    first, second = answers_in(prompt)
    if ("GOOD" in first) == ("GOOD" in second):
        return "tie"
    return "1" if "GOOD" in first else "2"


def frame(n: int = 40, b_good: set[int] = frozenset()) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "sample": 0,
            "output_a": [f"answer {i}" for i in range(n)],
            "output_b": [f"GOOD answer {i}" if i in b_good else f"answer {i}" for i in range(n)],
            "prompt": [f"question {i}" for i in range(n)],
            "tier": ["paid" if i < n // 2 else "free" for i in range(n)],
        }
    )


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("REWIND_SECRET_TEST_JUDGE_AUTH", "Bearer sk-local-test")


def config(server: OpenAIServer) -> EndpointConfig:
    return EndpointConfig(
        base_url=server.base_url,
        model="judge-1",
        header_env={"Authorization": "REWIND_SECRET_TEST_JUDGE_AUTH"},
        concurrency=4,
        max_retries=1,
        backoff_seconds=0.05,
    )


def test_both_orders_are_asked_and_the_better_side_wins_overall_and_in_its_segment():
    with OpenAIServer(answer=fair_judge) as server:
        result = preference_judge(frame(b_good=set(range(20))), config(server), segment_fields=["tier"])
        bodies = [r["body"] for r in server.requests]
        headers = server.requests[0]["headers"]
    assert len(bodies) == 80 and {b["model"] for b in bodies} == {"judge-1"}
    assert headers["Authorization"] == "Bearer sk-local-test"
    firsts = {
        answers_in(b["messages"][-1]["content"])[0] for b in bodies if "question 3\n" in b["messages"][-1]["content"]
    }
    assert firsts == {"answer 3", "GOOD answer 3"}  # the same case, once in each order
    assert result["win_rate_b"] == pytest.approx(0.75) and result["verdict"] == "b_preferred"
    segments = {s["value"]: s for s in result["segments"]}
    assert segments["paid"]["win_rate_b"] == 1.0 and segments["paid"]["ci"][0] > 0.5
    assert segments["free"]["win_rate_b"] == 0.5
    assert result["position_inconsistent"] == 0


def test_a_judge_that_always_picks_the_first_answer_cancels_out():
    with OpenAIServer(answer=lambda model, prompt: "1") as server:
        result = preference_judge(frame(b_good=set(range(40))), config(server))
    assert result["win_rate_b"] == 0.5 and result["verdict"] == "no_clear_preference"
    assert result["position_inconsistent"] == 40


def test_replies_that_name_neither_answer_are_inconclusive_never_a_win():
    with OpenAIServer(answer=lambda model, prompt: "Both have merits.") as server:
        result = preference_judge(frame(8), config(server))
    assert result["verdict"] == "inconclusive" and result["n"] == 0 and result["unparsed"] == 16


def test_verdicts_are_read_from_short_replies():
    assert [parse_verdict(t) for t in ["1", " 2.", "Tie", "Answer 2 is better", "neither"]] == [
        "1",
        "2",
        "tie",
        "2",
        None,
    ]


def test_behaviour_diff_adds_the_preference_to_its_report(tmp_path):
    rows_a = [{"id": f"q{i}", "prompt": f"question {i}", "output": f"answer {i}"} for i in range(12)]
    rows_b = [{"id": f"q{i}", "prompt": f"question {i}", "output": f"GOOD answer {i}"} for i in range(12)]
    for name, rows in (("a.jsonl", rows_a), ("b.jsonl", rows_b)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "r.json"
    with OpenAIServer(answer=fair_judge) as server:
        call_command(
            "behaviour_diff", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--json", str(out),
            "--judge-url", server.base_url, "--judge-model", "judge-1",
            "--judge-header", "Authorization=REWIND_SECRET_TEST_JUDGE_AUTH",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    preference = json.loads(out.read_text(encoding="utf-8"))["preference"]
    assert preference["win_rate_b"] == 1.0 and "b.jsonl preferred in 100.0% of 12 cases" in preference["summary"]


def test_a_failing_judge_endpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "output": "x"}) + "\n" for i in range(6)), encoding="utf-8")
    with OpenAIServer() as server:
        server.script = {}
        server.httpd.RequestHandlerClass.do_POST = lambda self: self._send(500, {"error": {"message": "down"}})
        with pytest.raises(CommandError, match=r"preference judge: judge-1: request for sample . failed: HTTP 500"):
            call_command(
                "behaviour_diff", str(path), str(path), "--judge-url", server.base_url, "--judge-model", "judge-1",
                stdout=io.StringIO(), stderr=io.StringIO(),
            )  # fmt: skip
