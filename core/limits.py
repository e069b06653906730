"""Input limits, in one place: what any JSON body, upload line or form field may hold.

- no NUL character in any text (PostgreSQL cannot store it, and no person types it);
- no NaN or Infinity (not JSON, and they poison every average they enter);
- JSON nested at most ``MAX_JSON_DEPTH`` deep (deeper input is an attack, not data);
- a text field holds at most ``settings.REWIND_MAX_TEXT_CHARS`` characters unless it declares its own limit.
The DRF parsers (core.parsers), serializers (core.api.StrictFieldsMixin), forms (core.forms.LimitedTextMixin) and
upload readers call these.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings

MAX_JSON_DEPTH = 32


class InputRejected(ValueError):
    """Bad input, with the place it was found (a dotted path such as ``records.3.latency_ms``)."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{path}: {message}" if path else message)
        self.message, self.path = message, path


def max_text_chars() -> int:
    return settings.REWIND_MAX_TEXT_CHARS


def _no_constant(name: str):
    raise InputRejected(f"{name} is not a number JSON allows")


def loads(raw: str | bytes, *, limit_text: bool = True) -> Any:
    """``json.loads`` that refuses NaN/Infinity, NUL characters and nesting beyond ``MAX_JSON_DEPTH``, and text
    longer than REWIND_MAX_TEXT_CHARS unless ``limit_text`` is false (uploaded files: a prompt may be long)."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InputRejected(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    check(data, limit_text=limit_text)
    return data


def check(data: Any, path: str = "", *, limit_text: bool = True) -> None:
    """Walk parsed JSON without recursion (a deep document must not exhaust the stack)."""
    cap = max_text_chars() if limit_text else None
    stack: list[tuple[Any, str, int]] = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, where, cap=cap)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InputRejected("NaN and Infinity are not allowed", where)
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise InputRejected(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels", where)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text(key, where, cap=cap)
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))


_DEFAULT = object()


def check_text(value: str, path: str = "", *, cap: int | object | None = _DEFAULT) -> None:
    """No NUL; at most ``cap`` characters (REWIND_MAX_TEXT_CHARS by default, None for no limit)."""
    if "\x00" in value:
        raise InputRejected("contains a NUL character", path)
    if cap is _DEFAULT:
        cap = max_text_chars()
    if cap is not None and len(value) > cap:
        raise InputRejected(f"is {len(value):,} characters long; the limit is {cap:,} (REWIND_MAX_TEXT_CHARS)", path)


def finite(value: float, path: str = "") -> float:
    if not math.isfinite(value):
        raise InputRejected("NaN and Infinity are not allowed", path)
    return value
