from __future__ import annotations

from django import template

from core.audit import audit_trail

register = template.Library()


@register.inclusion_tag("core/_audit_trail.html")
def audit_trail_for(obj, limit: int = 50):
    """Renders the append-only audit entries of any object: `{% load rewind %}{% audit_trail_for release %}`."""
    return {"entries": list(audit_trail(obj).select_related("actor")[:limit])}


@register.filter(name="markdown")
def markdown_filter(text):
    """User Markdown as sanitised HTML: `{{ postmortem.summary|markdown }}`. The one way to show it as HTML."""
    from core.markup import render_markdown

    return render_markdown(text)
