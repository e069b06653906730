"""How values read on a page or in an export: one place for timestamps, structured data and version labels.

Templates reach these through the filters in ``core/templatetags/rewind.py``; Markdown and CSV exports call them
directly, so a timestamp reads the same everywhere (minutes, UTC, no microseconds).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.utils import timezone

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M UTC"


def timestamp(value: Any) -> str:
    """'2026-10-18 14:03 UTC' for an aware or naive datetime (naive ones are taken as UTC); dates as YYYY-MM-DD."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return timestamp(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def scalar(value: Any) -> str:
    """One value as a person reads it: timestamps formatted, None as '—', lists joined, nested data as JSON."""
    value = _plain(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            return ", ".join(str(v) for v in value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def fields(value: Any) -> list[tuple[str, str]]:
    """A dict as (label, readable value) rows, in key order; anything else as one row without a label."""
    if isinstance(value, dict):
        return [(str(k).replace("_", " "), scalar(v)) for k, v in value.items()]
    if value in (None, "", [], {}):
        return []
    return [("", scalar(value))]


def version_label(obj: Any) -> str:
    """A release or component version as people name it: 'support-assistant #4', 'support v3 · 9f2c1ab (shorter
    answers)', 'openai:gpt-4o-2024-08-06 (bf16)'. Prompts have no number of their own: ``version_number`` is
    their position among the prompts of the same name when a caller knows it."""
    if obj is None:
        return "—"
    if getattr(obj, "number", None) is not None and getattr(obj, "feature", None) is not None:
        return f"{obj.feature.slug} #{obj.number}"
    if hasattr(obj, "system_prompt"):
        number = getattr(obj, "version_number", None)
        label = f"{obj.name} v{number}" if number else obj.name
        label += f" · {obj.content_hash[:7]}"
        when = getattr(obj, "created_at", None)
        if when:
            label += f" · {when.date().isoformat()}"
        message = (getattr(obj, "message", "") or "").strip().splitlines()
        return f"{label} ({message[0][:60]})" if message else label
    return str(obj)
