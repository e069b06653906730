"""Who may do what: the one table of rules. Services decide with ``require``; doors only authenticate (and
check the read rule), and pages use ``can``/``refusal`` to show a control disabled with its reason.

Each action names the minimum role. Roles are ordered (viewer < responder < approver < admin).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.models import Role

RULES: dict[str, Role] = {
    "view": Role.VIEWER,
    "release.register": Role.RESPONDER,
    "deployment.record": Role.RESPONDER,
    "incident.create": Role.RESPONDER,
    "incident.update": Role.RESPONDER,
    "diagnosis.update": Role.RESPONDER,
    "ownership.manage": Role.APPROVER,
    "postmortem.edit": Role.RESPONDER,
    "postmortem.publish": Role.APPROVER,
    "action_item.edit": Role.RESPONDER,
    "rollout.start": Role.RESPONDER,
    "rollout.control": Role.RESPONDER,
    "rollback.staging": Role.RESPONDER,
    "rollback.production": Role.APPROVER,
    "webhook.manage": Role.APPROVER,
    "compatibility.override": Role.APPROVER,
    "impact.waive": Role.APPROVER,
    "impact.review": Role.RESPONDER,
    "report.create": Role.RESPONDER,
    "report.cancel": Role.RESPONDER,
    "report.link": Role.RESPONDER,
    "prompt_set.import": Role.RESPONDER,
    "generation_endpoint.manage": Role.APPROVER,
    "observation.ingest": Role.RESPONDER,
    "change_event.create": Role.RESPONDER,
    "feature.manage": Role.ADMIN,
    "metrics.read": Role.ADMIN,
    "alert_source.manage": Role.ADMIN,
    "change_event_target.manage": Role.ADMIN,
    "admin": Role.ADMIN,
}


# Object rules: who may act on one object whatever their role. The owner of an action item always may update it
# (mark it done, move its due date with a reason), even with the viewer role.
OWNER_RULES: dict[str, str] = {
    "action_item.edit": "owner_id",
}


def _owns(user, action: str, obj) -> bool:
    field = OWNER_RULES.get(action)
    return bool(field and obj is not None and user and user.is_authenticated and getattr(obj, field, None) == user.pk)


def can(user, action: str, obj=None) -> bool:
    """Role rule, then (with ``obj``) the object rule: ``can(user, "action_item.edit", item)``."""
    if action not in RULES:
        raise KeyError(f"Unknown permission action {action!r}")
    if user and user.is_authenticated and user.has_role(RULES[action]):
        return True
    return _owns(user, action, obj)


def refusal(user, action: str, obj=None) -> str:
    """Why ``user`` may not do ``action`` (empty when they may): shown on 403 pages and on disabled controls."""
    if can(user, action, obj):
        return ""
    if not (user and user.is_authenticated):
        return "Log in first."
    needed = f"This needs the {RULES[action].label.lower()} role ({action})"
    if action in OWNER_RULES and obj is not None:
        return f"{needed}, or being its owner."
    return f"{needed}."


def require(user, action: str, obj=None) -> None:
    """Raise PermissionDenied with a message naming the role needed."""
    if not can(user, action, obj):
        raise PermissionDenied(refusal(user, action, obj))


def signed_in(view):
    """Door of a write: anonymous users go to login; whether the user may is the service's decision
    (``require(actor, action)`` inside it raises PermissionDenied, which the 403 page and the API show)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def read_required(action: str = "view"):
    """Door of a page: anonymous users go to login; reading (GET, HEAD) needs ``action`` ("view" unless the page
    shows what only some roles may see, e.g. an integration's configuration). Other methods pass to the view,
    whose service decides. A form page refuses its GET to whoever its service would refuse, with the same
    message: that is presentation (nothing to fill in), not a second rule."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.method in SAFE_METHODS:
                require(request.user, action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class RolePermission(BasePermission):
    """DRF door: every request is authenticated; reads need ``read_action`` ("view" unless the viewset says
    otherwise). Writes are decided by the service the view calls (its PermissionDenied becomes a 403 whose
    ``detail`` names the role)."""

    message = "You do not have the role this needs."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method not in SAFE_METHODS:
            return True
        action = getattr(view, "read_action", "view")
        allowed = can(user, action)
        if not allowed:
            self.message = refusal(user, action)
        return allowed
