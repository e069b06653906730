"""User text inside Slack mrkdwn. Slack reads ``<...>`` as a control sequence (``<!channel>``, ``<@U123>``,
``<https://evil.example|a link>``) and asks apps to escape exactly three characters in text they did not mean
as markup: ``&`` as ``&amp;``, ``<`` as ``&lt;``, ``>`` as ``&gt;``. Every message and Block Kit builder passes
what a person typed (titles, names, reasons, notes, workflow names) through ``escape``; the bot's own links and
mentions are added around the escaped text."""

from __future__ import annotations

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: object) -> str:
    return str(text if text is not None else "").translate(_ESCAPES)
