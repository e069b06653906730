"""What a user typed, made safe for the places Rewind shows it.

- ``render_markdown``: Markdown to HTML, then through nh3 (the Ammonia sanitiser) with an allow-list, so raw
  HTML, event handlers and ``javascript:`` links never reach a browser. Templates use the ``markdown`` filter
  (``core/templatetags/rewind.py``), which calls this; nothing else marks user text safe.
- ``markdown_text``: user text placed inside a Markdown document that leaves Rewind (the postmortem and report
  exports). It carries no live markup for whatever renders the file next: HTML is escaped as character
  references (every Markdown renderer shows them as the characters) and link destinations outside the allowed
  schemes lose their scheme.
"""

from __future__ import annotations

import re

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

LINK_SCHEMES = frozenset({"http", "https", "mailto"})

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}


def sanitize_html(html: str) -> str:
    """HTML reduced to the allow-list: other tags are dropped (script and style with their content), every
    attribute outside the list goes, and links keep only http, https and mailto targets."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    html = md.markdown(text or "", extensions=["tables"], output_format="html")
    return mark_safe(sanitize_html(html))  # noqa: S308 - the sanitiser's output, not the user's text


_HTML_CHARACTERS = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# A link destination after "](" or a reference definition "[label]: ", with its scheme.
_LINK_SCHEME = re.compile(r"(\]\(\s*|^\s{0,3}\[[^\]]*\]:\s*)([A-Za-z][A-Za-z0-9+.\-]*):", re.MULTILINE)


def _defang_scheme(match: re.Match) -> str:
    prefix, scheme = match.group(1), match.group(2)
    if scheme.lower() in LINK_SCHEMES:
        return match.group(0)
    # A percent-encoded colon is no scheme separator: the link becomes a harmless relative path.
    return f"{prefix}{scheme}%3A"


def markdown_text(text: str | None) -> str:
    """User text for a Markdown export: no raw HTML, no autolinks, no links to other schemes."""
    escaped = str(text or "").translate(_HTML_CHARACTERS)
    return _LINK_SCHEME.sub(_defang_scheme, escaped)
