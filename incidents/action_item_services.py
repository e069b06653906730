"""Writes for postmortem action items: one owner and one due date each; moving a due date needs a reason."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record, json_safe
from core.models import User
from core.permissions import require
from diagnostics.models import DiagnosisLayer
from incidents.changes import apply_changes, user_or_none
from incidents.models import ActionItem, ActionKind, ActionStatus, Incident, Priority, TimelineKind
from incidents.timeline import timeline_record


def _action_item_errors(
    *, title, owner, due_date, layer, priority, kind, tracker_url, backdate_reason: str | None = None
) -> dict[str, list[str]]:
    """``backdate_reason`` is checked only when the due date is being set (None: it is not)."""
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = ["Say what will be done."]
    if owner is None:
        errors["owner"] = ["An action item needs exactly one owner."]
    elif not isinstance(owner, User):
        errors["owner"] = ["The owner must be one person (a user), not a team or a list."]
    elif not owner.is_active:
        errors["owner"] = [f"{owner} is deactivated and cannot own an action item."]
    if due_date is None:
        errors["due_date"] = ["An action item needs a due date."]
    elif not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
        errors["due_date"] = ["The due date must be a date (YYYY-MM-DD)."]
    elif backdate_reason is not None and due_date < timezone.localdate() and not backdate_reason.strip():
        errors["due_date"] = [
            f"{due_date.isoformat()} is in the past. Give a date from today on, or a backdate_reason "
            "(e.g. recording an item that was already due)."
        ]
    if layer not in DiagnosisLayer.values:
        errors["layer"] = [f"Choose a layer: {', '.join(DiagnosisLayer.values)}."]
    if priority not in Priority.values:
        errors["priority"] = [f"Choose a priority: {', '.join(Priority.values)}."]
    if kind not in ActionKind.values:
        errors["kind"] = [f"Choose a type: {', '.join(ActionKind.values)}."]
    return errors


@transaction.atomic
def action_item_create(
    *,
    actor,
    incident: Incident,
    title: str,
    owner: User,
    due_date: dt.date,
    layer: str,
    priority: str = Priority.P2,
    kind: str = ActionKind.CORRECTIVE,
    tracker_url: str = "",
    confirm_duplicate: bool = False,
    backdate_reason: str = "",
) -> ActionItem:
    """A duplicate title on the same incident is refused (code "duplicate") unless the caller confirms it."""
    require(actor, "action_item.edit")
    errors = _action_item_errors(
        title=title,
        owner=owner,
        due_date=due_date,
        layer=layer,
        priority=priority,
        kind=kind,
        tracker_url=tracker_url,
        backdate_reason=backdate_reason,
    )
    if errors:
        raise ValidationError(errors)
    same = (
        ActionItem.objects.select_related("owner")
        .filter(incident=incident, title__iexact=title.strip())
        .order_by("id")
        .first()
    )
    if same and not confirm_duplicate:
        raise ValidationError(
            {
                "title": [
                    ValidationError(
                        f"{incident.reference} already has the action item “{same.title}” ({same.owner}, due "
                        f"{same.due_date.isoformat()}, {same.get_status_display().lower()}). Confirm to add it again.",
                        code="duplicate",
                    )
                ]
            }
        )
    item = ActionItem(
        incident=incident,
        title=title.strip(),
        owner=owner,
        due_date=due_date,
        layer=layer,
        priority=priority,
        kind=kind,
        tracker_url=tracker_url or "",
        created_by=user_or_none(actor),
    )
    item.full_clean(exclude=["incident", "owner", "created_by"])
    item.save()
    audit_record(
        actor=actor,
        action="action_item.create",
        obj=item,
        after={"title": item.title, "owner": owner.username, "due_date": due_date.isoformat(), "layer": layer},
        reason=backdate_reason.strip(),
    )
    timeline_record(
        incident=incident,
        kind=TimelineKind.ACTION_ITEM,
        text=f"Action item ({item.get_layer_display()}, {priority.upper()}): {item.title} — {owner}, due {due_date}",
        actor=actor,
        data={"action_item": item.pk},
    )
    return item


_ACTION_FIELDS = ("title", "owner", "due_date", "layer", "priority", "kind", "tracker_url", "status", "wont_do_reason")


@transaction.atomic
def action_item_update(*, actor, item: ActionItem, reason: str = "", backdate_reason: str = "", **fields) -> ActionItem:
    """Change any field of an action item; status 'won't do' needs a reason, owner and due date stay required.

    Moving the due date needs a reason too (it is how a slipping fix becomes visible), and moving it into the past
    needs a ``backdate_reason`` (which also serves as the reason). Its owner may always update their own item,
    whatever their role (core.permissions.OWNER_RULES)."""
    unknown = set(fields) - set(_ACTION_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited."] for name in sorted(unknown)})
    locked = ActionItem.objects.select_for_update(of=("self",)).select_related("owner").get(pk=item.pk)
    require(actor, "action_item.edit", locked)
    merged = {name: fields.get(name, getattr(locked, name)) for name in _ACTION_FIELDS}
    due_date_changes = "due_date" in fields and fields["due_date"] != locked.due_date
    errors = _action_item_errors(
        **{k: merged[k] for k in ("title", "owner", "due_date", "layer", "priority", "kind", "tracker_url")},
        backdate_reason=backdate_reason if due_date_changes else None,
    )
    if merged["status"] not in ActionStatus.values:
        errors["status"] = [f"Choose a status: {', '.join(ActionStatus.values)}."]
    if merged["status"] == ActionStatus.WONT_DO and not (merged["wont_do_reason"] or "").strip():
        errors["wont_do_reason"] = ["Say why this won't be done."]
    reason = (reason or "").strip() or ((backdate_reason or "").strip() if due_date_changes else "")
    if merged["due_date"] != locked.due_date and not reason and not errors.get("due_date"):
        errors["reason"] = ["Say why the due date moves."]
    if errors:
        raise ValidationError(errors)
    before, after = apply_changes(locked, merged)
    if not after:
        return locked
    if "status" in after:
        locked.completed_at = timezone.now() if locked.status in (ActionStatus.DONE, ActionStatus.WONT_DO) else None
    locked.full_clean(exclude=["incident", "owner", "created_by"])
    locked.save()
    backdated = f"back-dated: {backdate_reason.strip()}" if due_date_changes and backdate_reason.strip() else ""
    wont_do = merged["wont_do_reason"] if merged["status"] == ActionStatus.WONT_DO and "status" in after else ""
    reason = "; ".join(r for r in dict.fromkeys((wont_do, reason, backdated)) if r)
    audit_record(actor=actor, action="action_item.update", obj=locked, before=before, after=after, reason=reason)
    timeline_record(
        incident=locked.incident,
        kind=TimelineKind.ACTION_ITEM,
        text=f"Action item '{locked.title}': "
        + ", ".join(f"{k} {before[k]} → {after[k]}" for k in after)
        + (f" (why: {reason})" if reason else ""),
        actor=actor,
        data={"action_item": locked.pk, "changed": json_safe(after)},
    )
    return locked
