"""Shapes of the bot's answers to Slack."""

from __future__ import annotations

from django.http import JsonResponse

from slackbot.mrkdwn import escape


def ephemeral(text: str, blocks: list | None = None) -> JsonResponse:
    body: dict = {"response_type": "ephemeral", "text": text}
    if blocks:
        body["blocks"] = blocks
    return JsonResponse(body)


def in_channel(text: str) -> JsonResponse:
    return JsonResponse({"response_type": "in_channel", "text": text})


def mrkdwn(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


def error_text(exc: Exception) -> str:
    """A readable sentence from a PermissionDenied or a (model) ValidationError (field names left out: the
    services' messages already say what is wrong), escaped for mrkdwn: messages often quote what was typed."""
    messages = getattr(exc, "messages", None)
    if messages:
        return escape(" ".join(messages))
    return escape(str(exc) or exc.__class__.__name__)
