from __future__ import annotations

import pytest

from diagnostics.reports.generation import EndpointConfig, GenerationError, Prompt, generate, messages_for
from tests.support.openai_server import OpenAIServer


def config(server: OpenAIServer, **extra) -> EndpointConfig:
    return EndpointConfig(
        base_url=server.base_url,
        model="gpt-4-0613",
        header_env={"Authorization": "REWIND_SECRET_TEST_LLM_AUTH"},
        timeout_seconds=0.5,
        max_retries=2,
        concurrency=3,
        backoff_seconds=0.05,
        **extra,
    )


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("REWIND_SECRET_TEST_LLM_AUTH", "Bearer sk-local-test")


def test_it_sends_the_chat_completions_wire_format_with_headers_from_the_environment():
    with OpenAIServer() as server:
        answers = list(generate(config(server), [Prompt(key=1, text="hello", sample=0)]))
    assert [a.text for a in answers] == ["gpt-4-0613 says: hello"]
    request = server.requests[0]
    assert request["body"]["model"] == "gpt-4-0613"
    assert request["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert request["headers"]["Authorization"] == "Bearer sk-local-test"
    assert answers[0].completion_tokens == 3 and answers[0].latency_ms > 0


def test_it_retries_a_429_after_the_retry_after_delay_then_succeeds():
    with OpenAIServer(retry_after="1") as server:
        server.script["limited"] = ["429", "ok"]
        answers = list(generate(config(server), [Prompt(key="x", text="limited", sample=0)]))
    assert [a.text for a in answers] == ["gpt-4-0613 says: limited"]
    first, second = server.requests_for("limited")
    assert second["at"] - first["at"] >= 0.95, "Retry-After: 1 must be honoured"


def test_it_retries_after_a_timeout_and_a_server_error():
    with OpenAIServer(slow_seconds=1.5) as server:
        server.script["slow"] = ["slow", "500", "ok"]
        answers = list(generate(config(server), [Prompt(key="x", text="slow", sample=0)]))
    assert [a.text for a in answers] == ["gpt-4-0613 says: slow"]
    assert len(server.requests_for("slow")) == 3


def test_it_gives_up_with_a_clear_error_after_the_last_retry():
    with OpenAIServer() as server:
        server.script["down"] = ["500", "500", "500", "500"]
        with pytest.raises(GenerationError, match="HTTP 500"):
            list(generate(config(server), [Prompt(key="x", text="down", sample=0)]))
    assert len(server.requests_for("down")) == 3  # first try + max_retries


def test_it_refuses_to_call_without_the_secret_in_the_environment(monkeypatch):
    monkeypatch.delenv("REWIND_SECRET_TEST_LLM_AUTH")
    with (
        OpenAIServer() as server,
        pytest.raises(GenerationError, match=r"Authorization \(from \$REWIND_SECRET_TEST_LLM_AUTH\)"),
    ):
        list(generate(config(server), [Prompt(key=1, text="hello", sample=0)]))
    assert server.requests == []


def test_it_keeps_at_most_the_configured_number_of_requests_in_flight():
    with OpenAIServer(delay=0.2) as server:
        prompts = [Prompt(key=i, text=f"p{i}", sample=k) for i in range(4) for k in range(2)]
        answers = list(
            generate(
                config(
                    server,
                ),
                prompts,
            )
        )
    assert sorted((a.key, a.sample) for a in answers) == sorted((p.key, p.sample) for p in prompts)
    starts = sorted(r["at"] for r in server.requests)
    # With 3 in flight and 0.2 s per answer, 8 requests need at least 3 waves.
    assert starts[-1] - starts[0] >= 0.35


def test_a_json_list_of_messages_is_sent_as_is():
    assert messages_for('[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]')[0]["role"] == "system"
    assert messages_for("[not json") == [{"role": "user", "content": "[not json"}]


def test_it_does_not_retry_a_client_error():
    with OpenAIServer() as server, pytest.raises(GenerationError, match="HTTP 404"):
        list(generate(EndpointConfig(base_url=server.base_url + "/nope", model="m"), [Prompt(1, "a", 0)]))
