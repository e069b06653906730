"""Who may do what: the one table of rules, used by the web views, the API and the Slack bot.

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
    "integration.manage": Role.ADMIN,
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


def permission_required(action: str):
    """View decorator: anonymous users go to login, signed-in users without the role get 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require(request.user, action)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class RolePermission(BasePermission):
    """DRF permission: reads need 'view'; writes need the view's ``write_action`` (or a per-action map).

    A viewset sets ``write_action = "release.register"`` or ``action_permissions = {"rollback": "..."}``.
    """

    message = "You do not have the role this needs."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        action = self.action_for(request, view)
        allowed = can(user, action)
        if not allowed:
            self.message = refusal(user, action)
        return allowed

    @staticmethod
    def action_for(request, view) -> str:
        per_action = getattr(view, "action_permissions", {})
        name = getattr(view, "action", None)
        if name in per_action:
            return per_action[name]
        if request.method in SAFE_METHODS:
            return "view"
        return getattr(view, "write_action", "admin")
