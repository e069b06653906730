"""What a user typed, made safe for the places Rewind shows it.

- ``render_markdown``: Markdown to HTML, then through nh3 (the Ammonia sanitiser) with an allow-list, so raw
  HTML, event handlers and ``javascript:`` links never reach a browser. Templates use the ``markdown`` filter
  (``core/templatetags/rewind.py``), which calls this; nothing else marks user text safe.
- ``markdown_text`` (in ``core/markdown_text.py``, free of Django so the behaviour-diff engine's exports can use
  it): user text placed inside a Markdown document that leaves Rewind (the postmortem and report exports).
"""

from __future__ import annotations

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

from core.markdown_text import LINK_SCHEMES, markdown_text

__all__ = ["markdown_text", "render_markdown", "sanitize_html"]

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
