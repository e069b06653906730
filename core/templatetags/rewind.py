from __future__ import annotations

from django import template

from core.audit import audit_trail
from core.health import worker_status

register = template.Library()


@register.inclusion_tag("core/_audit_trail.html")
def audit_trail_for(obj, limit: int = 50):
    """Renders the append-only audit entries of any object: `{% load rewind %}{% audit_trail_for release %}`."""
    return {"entries": list(audit_trail(obj).select_related("actor")[:limit])}


@register.inclusion_tag("core/_worker_banner.html")
def worker_banner(waiting_for: str = "this page"):
    """A warning on pages that wait on a worker, shown while no worker is alive (core.health)."""
    status = worker_status()
    return {"status": status, "waiting_for": waiting_for}
