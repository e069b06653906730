"""/rollback: a plan with Confirm / Cancel, the approver-gated confirmation, and `/rollback status`."""

from __future__ import annotations

import json
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from core.permissions import require
from core.tasks import enqueue_on_commit
from incidents.models import Incident
from rollouts.models import Environment, Feature, Release
from rollouts.registry.selectors import live_release_at
from rollouts.runs.plan import RollbackPlan, rollback_plan
from slackbot import blocks
from slackbot import rollout_bridge as orchestration
from slackbot.identity import SlackUserProblem, slack_user_resolve
from slackbot.replies import ephemeral, error_text

log = logging.getLogger(__name__)

USAGE = "Usage: `/rollback <feature> [environment] [to <release number>]` or `/rollback status`."


def button_value(plan: RollbackPlan) -> str:
    return json.dumps({"e": plan.environment.pk, "f": plan.current.pk, "t": plan.target.pk})


def parse_rollback_text(text: str) -> tuple[str, str, int | None]:
    """'<feature> [environment] [to <n>]' -> (feature, environment or '', release number or None)."""
    words = text.split()
    if not words:
        raise SlackUserProblem(USAGE)
    number = None
    if "to" in words:
        at = words.index("to")
        tail = words[at + 1 :]
        if len(tail) != 1 or not tail[0].lstrip("#").isdigit():
            raise SlackUserProblem(f"After `to` give one release number, e.g. `to 41`. {USAGE}")
        number = int(tail[0].lstrip("#"))
        words = words[:at]
    if not 1 <= len(words) <= 2:
        raise SlackUserProblem(USAGE)
    return words[0], (words[1] if len(words) == 2 else ""), number


def plan_build(text: str) -> RollbackPlan:
    slug, env_name, number = parse_rollback_text(text)
    # One query for the feature and its environments; the releases come with their parts (Slack waits 3 s).
    envs = list(Environment.objects.select_related("feature").filter(feature__slug=slug))
    if not envs:
        if not Feature.objects.filter(slug=slug).exists():
            raise SlackUserProblem(f"No feature is called {slug!r}.")
        raise SlackUserProblem(f"{slug} has no environments yet.")
    if env_name:
        environment = next((e for e in envs if e.name == env_name), None)
        if environment is None:
            names = ", ".join(e.name for e in envs)
            raise SlackUserProblem(f"{slug} has no environment {env_name!r} (it has: {names}).")
    else:
        production = [e for e in envs if e.is_production]
        if len(production) != 1:
            raise SlackUserProblem(f"Say which environment of {slug}: {', '.join(e.name for e in envs)}.")
        environment = production[0]
    plan = rollback_plan(environment=environment, to_number=number)
    if plan.problem:
        raise SlackUserProblem(plan.problem)
    return plan


def runs_in_flight_text() -> str:
    runs = orchestration.runs_in_flight()
    if not runs:
        return "No rollout or rollback runs are in flight."
    return "*Runs in flight:*\n" + "\n".join(f"• {orchestration.run_line(run)}" for run in runs)


def handle_command(form) -> JsonResponse:
    """Answer at once: syntax and who is asking are checked here; the plan (diff, compatibility, dependent
    workflows from observations) is built by a worker and sent back through the command's response_url."""
    text = (form.get("text") or "").strip()
    try:
        actor = slack_user_resolve(form.get("user_id", ""))
        require(actor, "view")
        if text.lower() == "status":
            return ephemeral(runs_in_flight_text())
        if text.lower() in ("", "help"):
            return ephemeral(USAGE)
        parse_rollback_text(text)
    except (SlackUserProblem, PermissionDenied) as exc:
        return ephemeral(str(exc))
    response_url = form.get("response_url", "")
    if not response_url:
        return ephemeral("Slack sent no response_url, so the plan has nowhere to go; try again.")
    enqueue_on_commit("slackbot.rollback_plan", text, response_url)
    return ephemeral(f"Building the rollback plan for `{text}`…")


def plan_message(text: str) -> dict:
    """The ephemeral message (for response_url) with the plan and its buttons, or why there is none."""
    try:
        plan = plan_build(text)
    except SlackUserProblem as exc:
        return {"response_type": "ephemeral", "replace_original": True, "text": str(exc)}
    summary, body = blocks.rollback_plan(plan=plan, value=button_value(plan))
    return {"response_type": "ephemeral", "replace_original": True, "text": summary, "blocks": body}


def _load_plan(value: str) -> RollbackPlan:
    try:
        ids = json.loads(value)
        environment = Environment.objects.select_related("feature").get(pk=int(ids["e"]))
        current = Release.objects.get(pk=int(ids["f"]), feature_id=environment.feature_id)
        target = Release.objects.get(pk=int(ids["t"]), feature_id=environment.feature_id)
    except (ValueError, KeyError, TypeError, Environment.DoesNotExist, Release.DoesNotExist) as exc:
        raise SlackUserProblem("This rollback plan is no longer valid; run /rollback again.") from exc
    live = live_release_at(environment, timezone.now())
    if live is None or live.pk != current.pk:
        raise SlackUserProblem(
            f"What is live in {environment} changed since this plan was made; run /rollback again for a fresh plan."
        )
    return RollbackPlan(environment=environment, current=current, target=target)


def _incident_id_for_channel(channel: str) -> int | None:
    if not channel:
        return None
    return Incident.objects.filter(slack_channel_id=channel).values_list("pk", flat=True).first()


def handle_block_actions(payload: dict) -> HttpResponse:
    actions = payload.get("actions") or []
    action = actions[0] if actions else {}
    action_id = action.get("action_id")
    if action_id not in (blocks.ROLLBACK_CONFIRM, blocks.ROLLBACK_CANCEL):
        return HttpResponse(status=200)
    response_url = payload.get("response_url", "")
    slack_user = (payload.get("user") or {}).get("id", "")
    channel = (payload.get("channel") or {}).get("id", "")
    reply: dict
    if action_id == blocks.ROLLBACK_CANCEL:
        reply = {"replace_original": True, "text": "Rollback cancelled; nothing was changed."}
    else:
        try:
            actor = slack_user_resolve(slack_user)
            plan = _load_plan(action.get("value", ""))
            with transaction.atomic():
                run = orchestration.rollback_start(
                    actor=actor,
                    environment=plan.environment,
                    target=plan.target,
                    slack_user_id=slack_user,
                    incident_id=_incident_id_for_channel(channel),
                )
            run_id = run.pk
            reply = {
                "replace_original": True,
                "text": f"Rollback of {plan.environment} to release #{plan.target.number} started by "
                f"<@{slack_user}> (run #{run_id}); progress follows in a thread.",
            }
            if channel:
                enqueue_on_commit("slackbot.rollback_progress", run_id, channel)
        except (SlackUserProblem, PermissionDenied, ValidationError, *orchestration.REFUSALS) as exc:
            reply = {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": f"Not rolled back: {error_text(exc)}",
            }
    if response_url:
        enqueue_on_commit("slackbot.respond", response_url, reply)
    return HttpResponse(status=200)
