"""Block Kit for the bot's modal, boards and plans. Pure functions of their inputs."""

from __future__ import annotations

import json

from django.conf import settings
from django.urls import reverse

from incidents.models import Incident

INCIDENT_MODAL = "incident_open"
PIN_SHORTCUT = "incident_pin_message"
ROLLBACK_CONFIRM = "rollback_confirm"
ROLLBACK_CANCEL = "rollback_cancel"


def incident_url(incident) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("incidents:detail", args=[incident.pk])


def _text(text: str) -> dict:
    return {"type": "plain_text", "text": text[:150]}


def _option(value: str, label: str | None = None) -> dict:
    return {"text": _text(label or value), "value": value}


def _input(block_id: str, label: str, element: dict, *, optional: bool = False) -> dict:
    element = {**element, "action_id": block_id}
    return {"type": "input", "block_id": block_id, "label": _text(label), "element": element, "optional": optional}


def incident_modal(*, features, environment_names, channel_id: str, severities=None) -> dict:
    severities = severities or Incident._meta.get_field("severity").choices
    return {
        "type": "modal",
        "callback_id": INCIDENT_MODAL,
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "title": _text("Declare an incident"),
        "submit": _text("Declare"),
        "close": _text("Cancel"),
        "blocks": [
            _input("title", "Title", {"type": "plain_text_input", "max_length": 200}),
            _input(
                "severity",
                "Severity",
                {"type": "static_select", "options": [_option(v, str(label)) for v, label in severities]},
            ),
            _input(
                "feature", "Feature", {"type": "static_select", "options": [_option(f.slug, f.name) for f in features]}
            ),
            _input(
                "environment",
                "Environment",
                {"type": "static_select", "options": [_option(name) for name in environment_names]},
            ),
            _input("summary", "Summary", {"type": "plain_text_input", "multiline": True}, optional=True),
            _input(
                "options",
                "Channel",
                {"type": "checkboxes", "options": [_option("create_channel", "Create an incident channel")]},
                optional=True,
            ),
        ],
    }


def _mention(user) -> str:
    if user is None:
        return "*unowned*"
    return f"<@{user.slack_user_id}>" if user.slack_user_id else str(user)


def incident_board(incident, diagnoses) -> tuple[str, list]:
    text = f"Incident #{incident.pk} [{incident.severity}] {incident.title} — {incident.status}"
    lines = [
        f"*<{incident_url(incident)}|Incident #{incident.pk}>* `{incident.severity}` *{incident.title}* — _{incident.status}_"
    ]
    lines.append(f"Commander: {_mention(incident.commander)}")
    fields = []
    for d in diagnoses:
        label = d.get_layer_display() if hasattr(d, "get_layer_display") else d.layer
        status = getattr(d, "status", "")
        fields.append({"type": "mrkdwn", "text": f"*{label}*\n{_mention(d.owner)}\n_{status}_"})
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    return text, blocks


def _workflow_line(w) -> str:
    who = " · ".join(x for x in (w.customer, w.name) if x)
    status = w.get_status_display().lower() if w.pk else "detected, not in the plan yet"
    return (
        f"`{w.workflow_id}`{' (' + who + ')' if who else ''} — relies on {w.get_behaviour_display().lower()}; {status}"
    )


def _gate_note(gate) -> str:
    if gate is None:
        return ""
    if gate.blocked:
        return f":no_entry: *Impact gate:* {gate.reason}"
    if gate.waived:
        return f":warning: *Impact gate:* {gate.reason}"
    return ""


def rollback_plan(*, plan, value: str) -> tuple[str, list]:
    """plan: rollouts.runs.plan.RollbackPlan (the same plan the web planner shows)."""
    lines = [
        f"*Rollback plan for {plan.environment}*",
        f"Current: release #{plan.current.number}  →  target: release #{plan.target.number}",
    ]
    changes = plan.diff.layers if plan.diff else []
    if changes:
        lines.append("*What changes back:*")
        lines += [f"• {c.layer}: {c.summary} ({c.before} → {c.after})" for c in changes]
    else:
        lines.append("The two releases have the same manifest.")
    if plan.violations:
        lines.append("*Compatibility: refused* — " + "; ".join(v.message for v in plan.violations))
    else:
        lines.append("*Compatibility:* ok")
    workflows = [_workflow_line(w) for w in plan.workflows] if plan.environment.is_production else []
    if workflows:
        lines.append("*Dependent workflows:*")
        lines += [f"• {w}" for w in workflows[:15]]
    else:
        lines.append("*Dependent workflows:* none known")
    note = _gate_note(plan.gate) if plan.environment.is_production else ""
    if note:
        lines.append(note)
    text = f"Rollback plan: {plan.environment} #{plan.current.number} → #{plan.target.number}"
    body = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}]
    buttons = []
    if not plan.violations:
        buttons.append(
            {
                "type": "button",
                "action_id": ROLLBACK_CONFIRM,
                "style": "danger",
                "text": _text("Confirm rollback"),
                "value": value,
            }
        )
    buttons.append({"type": "button", "action_id": ROLLBACK_CANCEL, "text": _text("Cancel"), "value": value})
    body.append({"type": "actions", "block_id": "rollback_plan", "elements": buttons})
    return text, body
