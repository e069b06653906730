"""/incident: the modal that opens an incident, the in-channel sub-commands, and the message shortcut.

Every change goes through incidents/diagnostics services with the linked Rewind user as actor, so the
permission rules and the audit log are the web's own.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from slack_sdk.errors import SlackApiError

from core.models import User
from core.permissions import refusal
from core.tasks import enqueue_on_commit
from diagnostics import services as diagnostics_services
from diagnostics.models import DiagnosisLayer
from incidents import action_item_services
from incidents import services as incident_services
from incidents.models import Incident
from rollouts.models import Environment
from slackbot import blocks
from slackbot.client import slack_client
from slackbot.identity import SlackUserProblem, slack_user_resolve
from slackbot.models import SlackTimelinePin
from slackbot.mrkdwn import escape
from slackbot.replies import ephemeral, error_text, in_channel

log = logging.getLogger(__name__)

HELP = (
    "*Rewind /incident*\n"
    "• `/incident` — open the form to declare an incident\n"
    "In an incident channel:\n"
    "• `/incident status <status>` — move the incident (e.g. investigating, mitigating, resolved)\n"
    "• `/incident owner <model|data|prompt|product> @user` — assign a layer owner\n"
    "• `/incident action <text> @owner due <YYYY-MM-DD> [layer <layer>]` — add an action item\n"
    "• `/incident note <text>` — add a note to the timeline\n"
    "• `/incident resolve` — mark resolved\n"
    "• `/incident help` — this help"
)
MENTION = re.compile(r"^<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>$|^@(?P<name>[\w.+-]+)$")
ACTION = re.compile(
    r"^(?P<title>.+?)\s+(?P<owner><@[^>]+>|@[\w.+-]+)\s+due\s+(?P<due>\S+)(?:\s+layer\s+(?P<layer>\w+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def status_values() -> list[str]:
    return [value for value, _ in Incident._meta.get_field("status").choices]


def layer_values() -> list[str]:
    return [value for value, _ in DiagnosisLayer.choices]


def incident_for_channel(channel_id: str) -> Incident | None:
    if not channel_id:
        return None
    return Incident.objects.filter(slack_channel_id=channel_id).first()


def mentioned_user(token: str) -> User:
    """`<@U123|name>` (Slack's escaped mention) or `@username` (a Rewind username)."""
    match = MENTION.match(token.strip())
    if not match:
        raise SlackUserProblem(f"{token!r} is not a mention; write @someone.")
    if match.group("id"):
        try:
            return slack_user_resolve(match.group("id"))
        except SlackUserProblem as exc:
            raise SlackUserProblem(f"{token} is not linked to a Rewind user. {exc}") from exc
    user = User.objects.filter(username=match.group("name"), is_active=True).first()
    if user is None:
        raise SlackUserProblem(f"No Rewind user is called @{match.group('name')}.")
    return user


def handle_command(form) -> JsonResponse:
    text = (form.get("text") or "").strip()
    sub, _, rest = text.partition(" ")
    sub, rest = sub.lower(), rest.strip()
    if sub == "help":
        return ephemeral(HELP)
    try:
        actor = slack_user_resolve(form.get("user_id", ""))
    except SlackUserProblem as exc:
        return ephemeral(escape(exc))
    if not sub:
        return open_modal(actor, form)
    handlers = {
        "status": cmd_status,
        "owner": cmd_owner,
        "action": cmd_action,
        "note": cmd_note,
        "resolve": cmd_resolve,
    }
    handler = handlers.get(sub)
    if handler is None:
        return ephemeral(f"Unknown sub-command {escape(repr(sub))}.\n\n{HELP}")
    incident = incident_for_channel(form.get("channel_id", ""))
    if incident is None:
        return ephemeral(f"`/incident {sub}` works in an incident channel; this channel belongs to no incident.")
    try:
        with transaction.atomic():
            reply = handler(actor=actor, incident=incident, rest=rest)
    except SlackUserProblem as exc:
        return ephemeral(escape(exc))
    except (PermissionDenied, ValidationError) as exc:
        return ephemeral(f"Not done: {error_text(exc)}")
    enqueue_on_commit("slackbot.incident_board", incident.pk)
    return in_channel(reply)


# --- in-channel sub-commands -------------------------------------------------------------------------------


def _transition(*, actor, incident: Incident, to_status: str, reason: str) -> str:
    if to_status not in status_values():
        raise SlackUserProblem(f"Unknown status {to_status!r}. Use one of: {', '.join(status_values())}.")
    incident_services.incident_transition(actor=actor, incident=incident, to_status=to_status, reason=reason)
    return f"<@{actor.slack_user_id}> moved incident #{incident.pk} to *{to_status}*."


def cmd_status(*, actor, incident, rest) -> str:
    to_status, _, reason = rest.partition(" ")
    if not to_status:
        raise SlackUserProblem(f"Say which status: `/incident status <{'|'.join(status_values())}>`.")
    return _transition(
        actor=actor, incident=incident, to_status=to_status.lower(), reason=reason.strip() or "from Slack"
    )


def cmd_resolve(*, actor, incident, rest) -> str:
    return _transition(actor=actor, incident=incident, to_status="resolved", reason=rest or "resolved from Slack")


def cmd_owner(*, actor, incident, rest) -> str:
    parts = rest.split(None, 1)
    if len(parts) != 2:
        raise SlackUserProblem("Usage: `/incident owner <model|data|prompt|product> @user`.")
    layer, who = parts[0].lower(), parts[1]
    if layer not in layer_values():
        raise SlackUserProblem(f"Unknown layer {layer!r}. Use one of: {', '.join(layer_values())}.")
    owner = mentioned_user(who)
    diagnosis = incident.layer_diagnoses.get(layer=layer)
    diagnostics_services.layer_assign_owner(
        actor=actor, diagnosis=diagnosis, owner=owner, reason=f"assigned from Slack by {actor.get_username()}"
    )
    return f"<@{actor.slack_user_id}> made {escape(owner)} owner of the *{layer}* layer of incident #{incident.pk}."


def cmd_action(*, actor, incident, rest) -> str:
    match = ACTION.match(rest)
    if not match:
        raise SlackUserProblem("Usage: `/incident action <text> @owner due <YYYY-MM-DD> [layer <layer>]`.")
    try:
        due = dt.date.fromisoformat(match.group("due"))
    except ValueError as exc:
        raise SlackUserProblem(f"{match.group('due')!r} is not a date; write it as YYYY-MM-DD.") from exc
    owner = mentioned_user(match.group("owner"))
    layer = (match.group("layer") or "").lower()
    if layer and layer not in layer_values():
        raise SlackUserProblem(f"Unknown layer {layer!r}. Use one of: {', '.join(layer_values())}.")
    if not layer:
        owned = [d.layer for d in incident.layer_diagnoses.all() if d.owner_id == owner.pk]
        if len(owned) != 1:
            raise SlackUserProblem(f"Say which layer this fixes: add `layer <{'|'.join(layer_values())}>`.")
        layer = owned[0]
    item = action_item_services.action_item_create(
        actor=actor, incident=incident, title=match.group("title").strip(), owner=owner, due_date=due, layer=layer
    )
    return f"Action item #{item.pk} “{escape(item.title)}” for {escape(owner)}, due {due:%Y-%m-%d} ({layer})."


def cmd_note(*, actor, incident, rest) -> str:
    if not rest:
        raise SlackUserProblem("Usage: `/incident note <text>`.")
    incident_services.incident_add_note(actor=actor, incident=incident, text=rest, source="slack")
    return f"Note added to incident #{incident.pk} by <@{actor.slack_user_id}>."


# --- the modal ---------------------------------------------------------------------------------------------


def open_modal(actor: User, form) -> JsonResponse:
    # Presentation: a form its submitter could not send is not opened; incident_open decides on submission.
    if reason := refusal(actor, "incident.create"):
        return ephemeral(f"You cannot declare incidents: {escape(reason)}")
    trigger_id = form.get("trigger_id", "")
    if not trigger_id:
        return ephemeral("Slack sent no trigger_id, so the form cannot open; try again.")
    # One query for the pickers (Slack allows 100 options per select).
    envs = list(Environment.objects.select_related("feature").order_by("feature__slug", "name")[:500])
    features = list({e.feature.slug: e.feature for e in envs}.values())[:100]
    env_names = sorted({e.name for e in envs})[:100]
    if not features or not env_names:
        return ephemeral("Rewind has no features with environments yet; add one in the web UI first.")
    view = blocks.incident_modal(features=features, environment_names=env_names, channel_id=form.get("channel_id", ""))
    try:
        # trigger_id expires 3 s after the command: the modal must open inside this request.
        slack_client().views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc)
        return ephemeral(f"Slack refused to open the form ({exc.response.get('error', 'error')}); try again.")
    except OSError as exc:
        log.warning("views.open failed: %s", exc)
        return ephemeral("Rewind could not reach Slack to open the form; try again.")
    return HttpResponse(status=200)


def _state_value(values: dict, block_id: str) -> str:
    element = (values.get(block_id) or {}).get(block_id) or {}
    if element.get("type") in ("static_select", "external_select"):
        return ((element.get("selected_option") or {}).get("value")) or ""
    if element.get("type") == "checkboxes":
        return ",".join(o.get("value", "") for o in element.get("selected_options") or [])
    return (element.get("value") or "").strip()


def handle_view_submission(payload: dict) -> HttpResponse:
    view = payload.get("view") or {}
    if view.get("callback_id") != blocks.INCIDENT_MODAL:
        return HttpResponse(status=200)
    values = (view.get("state") or {}).get("values") or {}
    try:
        actor = slack_user_resolve((payload.get("user") or {}).get("id", ""))
    except SlackUserProblem as exc:
        return JsonResponse({"response_action": "errors", "errors": {"title": str(exc)}})
    title = _state_value(values, "title")
    severity = _state_value(values, "severity")
    feature_slug = _state_value(values, "feature")
    env_name = _state_value(values, "environment")
    summary = _state_value(values, "summary")
    create_channel = "create_channel" in _state_value(values, "options").split(",")
    errors = {}
    if not title:
        errors["title"] = "Give the incident a title."
    severities = [v for v, _ in Incident._meta.get_field("severity").choices]
    if severity not in severities:
        errors["severity"] = f"Pick a severity ({', '.join(severities)})."
    environment = (
        Environment.objects.select_related("feature").filter(feature__slug=feature_slug, name=env_name).first()
    )
    if environment is None:
        errors["environment"] = f"{feature_slug or 'The feature'} has no environment called {env_name or '(none)'}."
    if errors:
        return JsonResponse({"response_action": "errors", "errors": errors})
    try:
        with transaction.atomic():
            incident = incident_services.incident_open(
                actor=actor,
                title=title,
                severity=severity,
                summary=summary,
                feature_environments=[environment],
                # Whoever declares it in Slack commands it until they hand over (so they are in the channel).
                commander=actor,
                source="slack",
            )
    except (PermissionDenied, ValidationError) as exc:
        return JsonResponse({"response_action": "errors", "errors": {"title": error_text(exc)}})
    incident_id = incident.pk
    enqueue_on_commit("slackbot.incident_announce", incident_id, create_channel)
    return HttpResponse(status=200)


# --- the message shortcut ----------------------------------------------------------------------------------


def pin_message(*, actor: User, incident: Incident, channel: str, message: dict) -> bool:
    """Add a Slack message to the incident timeline once per message ts. True if it was added now.

    incident_add_note decides whether the actor may; its refusal undoes the pin row written just before it."""
    ts = message.get("ts", "")
    with transaction.atomic():
        _pin, created = SlackTimelinePin.objects.get_or_create(
            channel=channel, message_ts=ts, defaults={"incident_id": incident.pk}
        )
        if created:
            author = message.get("user", "")
            text = (message.get("text") or "").strip() or "(message without text)"
            incident_services.incident_add_note(
                actor=actor,
                incident=incident,
                text=f"From Slack (<@{author}>): {text}" if author else f"From Slack: {text}",
                source="slack",
                external_ref=f"slack:{channel}/{ts}",
            )
    return created


def handle_message_shortcut(payload: dict) -> HttpResponse:
    if payload.get("callback_id") != blocks.PIN_SHORTCUT:
        return HttpResponse(status=200)
    channel = (payload.get("channel") or {}).get("id", "")
    message = payload.get("message") or {}
    response_url = payload.get("response_url", "")
    try:
        actor = slack_user_resolve((payload.get("user") or {}).get("id", ""))
        incident = incident_for_channel(channel)
        if incident is None:
            raise SlackUserProblem("This channel belongs to no incident, so the message was not added.")
        added = pin_message(actor=actor, incident=incident, channel=channel, message=message)
        reply = (
            f"Added to the timeline of incident #{incident.pk}."
            if added
            else "That message is already on the timeline."
        )
    except (SlackUserProblem, PermissionDenied, ValidationError) as exc:
        reply = f"Not added: {error_text(exc)}"
    if response_url:
        enqueue_on_commit("slackbot.respond", response_url, {"response_type": "ephemeral", "text": reply})
    return HttpResponse(status=200)
