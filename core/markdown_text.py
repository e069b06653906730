"""User text inside a Markdown document that leaves Rewind (the postmortem and behaviour-diff report exports).

It carries no live markup for whatever renders the file next: ``&``, ``<`` and ``>`` become character references
(every Markdown renderer shows them as the characters, none reads them as HTML or an autolink), and a link
destination with a scheme other than http, https or mailto has its colon percent-encoded, which makes it a
harmless relative link. Plain Python: the behaviour-diff engine, which must not import Django, uses it too.
"""

from __future__ import annotations

import re

LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_HTML_CHARACTERS = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# A link destination after "](" or a reference definition "[label]: ", with its scheme.
_LINK_SCHEME = re.compile(r"(\]\(\s*|^\s{0,3}\[[^\]]*\]:\s*)([A-Za-z][A-Za-z0-9+.\-]*):", re.MULTILINE)


def _defang_scheme(match: re.Match) -> str:
    prefix, scheme = match.group(1), match.group(2)
    if scheme.lower() in LINK_SCHEMES:
        return match.group(0)
    # A percent-encoded colon is no scheme separator: the link becomes a harmless relative path.
    return f"{prefix}{scheme}%3A"


def markdown_text(text: object) -> str:
    """User text for a Markdown export: no raw HTML, no autolinks, no links to other schemes."""
    escaped = str(text or "").translate(_HTML_CHARACTERS)
    return _LINK_SCHEME.sub(_defang_scheme, escaped)
