"""Live answers from an OpenAI-compatible chat-completions endpoint.

Bounded concurrency (a thread pool with a sliding window, so 100k cases never sit in memory as futures),
per-request timeouts, retries with exponential back-off on 429/5xx and network errors, honouring Retry-After.
Header values come from environment variables named in the endpoint's configuration, never from the database.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from diagnostics.endpoint_secrets import secrets_refused, secrets_refused_message

MAX_BACKOFF_SECONDS = 30.0
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class GenerationError(Exception):
    pass


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    header_env: dict[str, str] = field(default_factory=dict)
    temperature: float = 0.0
    max_tokens: int | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 4
    concurrency: int = 4
    backoff_seconds: float = 0.5

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/").removesuffix("/v1")
        return f"{base}/v1/chat/completions"


@dataclass(frozen=True)
class Prompt:
    key: object  # the caller's handle (e.g. the case's primary key)
    text: str
    sample: int


@dataclass(frozen=True)
class Answer:
    key: object
    sample: int
    text: str
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None


def endpoint_from_flags(flag: str, url: str, model: str | None, header_flags: list[str]) -> EndpointConfig:
    """An endpoint from a command's ``--{flag}-url``, ``--{flag}-model`` and ``--{flag}-header HEADER=ENV_VAR``
    options; ``ValueError`` names the option that is wrong. Header values stay in the environment."""
    if not model:
        raise ValueError(f"--{flag}-url needs --{flag}-model.")
    headers = {}
    for text in header_flags:
        header, sep, variable = text.partition("=")
        if not sep or not header.strip() or not variable.strip():
            raise ValueError(f"--{flag}-header {text!r}: use HEADER=ENV_VAR (the secret stays in the environment).")
        headers[header.strip()] = variable.strip()
    refused = secrets_refused(headers)
    if refused:
        raise ValueError(f"--{flag}-header: {secrets_refused_message(refused)}")
    return EndpointConfig(base_url=url, model=model, header_env=headers)


def resolve_headers(header_env: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    # Checked again here, in the worker, in case an endpoint stored before the rule (or written around the
    # service) names a variable outside the allow-list.
    refused = secrets_refused(header_env)
    if refused:
        raise GenerationError(secrets_refused_message(refused))
    environ = os.environ if environ is None else environ
    headers, missing = {}, []
    for name, variable in header_env.items():
        if variable not in environ:
            missing.append(f"{name} (from ${variable})")
        else:
            headers[name] = environ[variable]
    if missing:
        raise GenerationError(f"Environment variables for these headers are not set: {', '.join(missing)}.")
    return headers


def messages_for(text: str) -> list[dict]:
    """A case input is plain text, or a JSON list of chat messages ({"role", "content"})."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            messages = json.loads(stripped)
        except json.JSONDecodeError:
            messages = None
        if isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages):
            return messages
    return [{"role": "user", "content": text}]


def retry_delay(response: httpx.Response | None, attempt: int, base: float) -> float:
    if response is not None and (value := response.headers.get("retry-after")):
        try:
            return min(max(float(value), 0.0), MAX_BACKOFF_SECONDS)
        except ValueError:
            try:
                when = parsedate_to_datetime(value).timestamp()
                return min(max(when - time.time(), 0.0), MAX_BACKOFF_SECONDS)
            except (TypeError, ValueError):
                pass
    # Full jitter keeps many workers from retrying in lock-step.
    return min(base * (2**attempt) * (0.5 + random.random() / 2), MAX_BACKOFF_SECONDS)


def complete(client: httpx.Client, config: EndpointConfig, prompt: Prompt) -> Answer:
    body: dict = {"model": config.model, "messages": messages_for(prompt.text), "temperature": config.temperature}
    if config.max_tokens:
        body["max_tokens"] = config.max_tokens
    last = ""
    for attempt in range(config.max_retries + 1):
        response = None
        started = time.perf_counter()
        try:
            response = client.post(config.url, json=body, timeout=config.timeout_seconds)
        except httpx.TimeoutException:
            last = f"timed out after {config.timeout_seconds:g}s"
        except httpx.TransportError as exc:
            last = f"connection failed ({exc.__class__.__name__})"
        else:
            if response.status_code == 200:
                return _answer(prompt, response, (time.perf_counter() - started) * 1000)
            last = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code not in RETRY_STATUSES:
                break
        if attempt < config.max_retries:
            time.sleep(retry_delay(response, attempt, config.backoff_seconds))
    raise GenerationError(f"{config.model}: request for sample {prompt.sample} failed: {last}")


def _answer(prompt: Prompt, response: httpx.Response, latency_ms: float) -> Answer:
    try:
        payload = response.json()
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GenerationError(f"Response is not a chat completion: {response.text[:200]}") from exc
    usage = payload.get("usage") or {}
    return Answer(
        key=prompt.key,
        sample=prompt.sample,
        text=content or "",
        latency_ms=latency_ms,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


def generate(
    config: EndpointConfig, prompts: Iterable[Prompt], *, should_stop: Callable[[], None] | None = None
) -> Iterator[Answer]:
    """Yield answers as they complete; at most ``concurrency`` requests in flight.

    ``should_stop`` is called between completions and may raise to cancel (in-flight requests finish).
    """
    headers = resolve_headers(config.header_env)
    window = max(1, config.concurrency)
    with (
        httpx.Client(headers=headers, timeout=config.timeout_seconds) as client,
        ThreadPoolExecutor(max_workers=window, thread_name_prefix="rewind-gen") as pool,
    ):
        pending: set[Future] = set()
        source = iter(prompts)
        exhausted = False
        try:
            while pending or not exhausted:
                while not exhausted and len(pending) < window:
                    try:
                        prompt = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(pool.submit(complete, client, config, prompt))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                if should_stop:
                    should_stop()
        finally:
            for future in pending:
                future.cancel()
