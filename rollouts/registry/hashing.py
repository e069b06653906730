from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 over canonical JSON (sorted keys, no whitespace): equal content, equal hash."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
