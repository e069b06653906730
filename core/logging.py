"""Logging pieces the LOGGING setting names."""

from __future__ import annotations

import logging


class ExpectedRefusalFilter(logging.Filter):
    """A 4xx (a refusal the rules meant: no role, not found, bad input) logs one line, not a traceback.

    Django's request logger attaches the PermissionDenied or Http404 as exc_info; that traceback says nothing an
    operator needs. 5xx records keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
