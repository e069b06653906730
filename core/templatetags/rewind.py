from __future__ import annotations

from django import template

from core import display
from core.audit import audit_trail
from core.health import worker_status
from core.permissions import can as _can
from core.permissions import refusal as _refusal

register = template.Library()


@register.inclusion_tag("core/_audit_trail.html")
def audit_trail_for(obj, limit: int = 50):
    """Renders the append-only audit entries of any object: `{% load rewind %}{% audit_trail_for release %}`."""
    return {"entries": list(audit_trail(obj).select_related("actor")[:limit])}


# Permissions: templates ask the rules table, they never restate it. `{% if user|can:"incident.create" %}`;
# for an object rule, `{% can_on user "action_item.edit" item as allowed %}`.


@register.filter
def can(user, action: str) -> bool:
    return _can(user, action)


@register.filter
def refusal(user, action: str) -> str:
    return _refusal(user, action)


@register.simple_tag
def can_on(user, action: str, obj) -> bool:
    return _can(user, action, obj)


@register.simple_tag
def refusal_on(user, action: str, obj) -> str:
    return _refusal(user, action, obj)


# Display: the same reading of a value on every page (see core/display.py).


@register.filter
def when(value) -> str:
    return display.timestamp(value)


@register.filter
def readable(value) -> str:
    return display.scalar(value)


@register.filter
def fields(value) -> list[tuple[str, str]]:
    return display.fields(value)


@register.filter
def version_label(obj) -> str:
    return display.version_label(obj)


@register.inclusion_tag("core/_action_link.html")
def action_link(user, action: str, href: str, label: str, css: str = "", obj=None):
    """A link to a page that does ``action``: live when the user may, otherwise greyed with the reason on hover.
    `{% action_link user "incident.create" create_url "File an incident" "primary" %}`"""
    return {
        "allowed": _can(user, action, obj),
        "reason": _refusal(user, action, obj),
        "href": href,
        "label": label,
        "css": css,
    }


@register.inclusion_tag("core/_worker_banner.html")
def worker_banner(waiting_for: str = "this page"):
    """A warning on pages that wait on a worker, shown while no worker is alive (core.health)."""
    status = worker_status()
    return {"status": status, "waiting_for": waiting_for}


@register.filter(name="markdown")
def markdown_filter(text):
    """User Markdown as sanitised HTML: `{{ postmortem.summary|markdown }}`. The one way to show it as HTML."""
    from core.markup import render_markdown

    return render_markdown(text)
