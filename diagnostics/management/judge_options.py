"""Command options for the LLM judges: behaviour_metrics' and behaviour_diff's ``--refusal-judge-*`` options, and
the one way both commands (and behaviour_diff's ``--judge-*`` preference judge) turn such options into an endpoint
and its failures into command errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError


def add_refusal_judge_arguments(parser) -> None:
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


def with_endpoint(options: dict, flag: str, name: str, call: Callable[[Any], Any]) -> Any:
    """``call(endpoint)`` with the endpoint that the ``--{flag}-url/-model/-header`` options name; a bad option,
    or an endpoint that keeps failing, is a CommandError (the latter prefixed with the judge's ``name``)."""
    from diagnostics.reports.generation import GenerationError, endpoint_from_flags

    key = flag.replace("-", "_")
    try:
        config = endpoint_from_flags(flag, options[f"{key}_url"], options[f"{key}_model"], options[f"{key}_header"])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        return call(config)
    except GenerationError as exc:
        raise CommandError(f"{name}: {exc}") from None
