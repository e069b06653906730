"""The ``--refusal-judge-*`` options that behaviour_metrics and behaviour_diff share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError


def add_arguments(parser) -> None:
    parser.add_argument(
        "--refusal-judge-url",
        help="OpenAI-compatible base URL of an LLM that decides each answer's refusal verdict, shown its request"
        " (the record's instruction or prompt field)",
    )
    parser.add_argument("--refusal-judge-model", help="the refusal judge's model name")
    parser.add_argument(
        "--refusal-judge-header",
        action="append",
        default=[],
        help="HEADER=ENV_VAR: a header whose value is in ENV_VAR (REWIND_SECRET_* or listed in settings)",
    )


def judged(options: dict, call: Callable[[Any], Any]) -> Any:
    """``call(endpoint)`` with the judge the options name; a bad option or a failing endpoint is a CommandError."""
    from diagnostics.reports.generation import GenerationError, endpoint_from_flags

    try:
        config = endpoint_from_flags(
            "refusal-judge",
            options["refusal_judge_url"],
            options["refusal_judge_model"],
            options["refusal_judge_header"],
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        return call(config)
    except GenerationError as exc:
        raise CommandError(f"refusal judge: {exc}") from None
