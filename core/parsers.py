"""DRF parsers that apply core.limits to every request body, before any serializer sees it."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from core import limits


def _field_error(exc: limits.InputRejected) -> ValidationError:
    """400 with the message under the field it concerns (the body as a whole when it has no path)."""
    return ValidationError({exc.path or "detail": [exc.message[0].upper() + exc.message[1:] + "."]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return limits.loads(raw.decode((parser_context or {}).get("encoding", "utf-8")))
        except limits.InputRejected as exc:
            raise _field_error(exc) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _check_form(data) -> None:
    for key, values in data.lists():
        for value in values:
            if isinstance(value, str):
                try:
                    limits.check_text(value, key)
                except limits.InputRejected as exc:
                    raise _field_error(exc) from None


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        return result
