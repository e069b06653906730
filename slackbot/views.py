"""Slack's three request URLs. Each one verifies the signature first (slack_signed), answers within Slack's
3 seconds and leaves network-heavy work to Celery (enqueued on commit)."""

from __future__ import annotations

import json
import logging

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse

from core.tasks import enqueue_on_commit
from slackbot import incident_commands, rollback_commands
from slackbot.models import SlackEventReceipt
from slackbot.replies import ephemeral
from slackbot.signing import slack_signed

log = logging.getLogger(__name__)


@slack_signed
def commands(request):
    form = request.POST
    command = form.get("command", "")
    if command == "/incident":
        return incident_commands.handle_command(form)
    if command == "/rollback":
        return rollback_commands.handle_command(form)
    return ephemeral(f"Rewind does not know the command {command!r}.")


@slack_signed
def interactivity(request):
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return HttpResponse("payload must be a JSON object", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("payload must be a JSON object", status=400, content_type="text/plain")
    kind = payload.get("type")
    if kind == "view_submission":
        return incident_commands.handle_view_submission(payload)
    if kind == "block_actions":
        return rollback_commands.handle_block_actions(payload)
    if kind == "message_action":
        return incident_commands.handle_message_shortcut(payload)
    return HttpResponse(status=200)


@slack_signed
def events(request):
    try:
        body = json.loads(request.body)
    except ValueError:
        return HttpResponse("body must be JSON", status=400, content_type="text/plain")
    if not isinstance(body, dict):
        return HttpResponse("body must be a JSON object", status=400, content_type="text/plain")
    if body.get("type") == "url_verification":
        return JsonResponse({"challenge": body.get("challenge", "")})
    if body.get("type") != "event_callback":
        return HttpResponse(status=200)
    event = body.get("event") or {}
    event_id = str(body.get("event_id") or "")
    if not event_id:
        return HttpResponse("event_id missing", status=400, content_type="text/plain")
    try:
        with transaction.atomic():
            SlackEventReceipt.objects.create(event_id=event_id, event_type=str(event.get("type", ""))[:64])
            # Retries (X-Slack-Retry-Num) with the same event_id land in the IntegrityError branch.
            if event.get("type") == "reaction_added" and event.get("reaction") == "pushpin":
                item = event.get("item") or {}
                if item.get("type") == "message" and item.get("channel") and item.get("ts"):
                    channel, ts, user = item["channel"], item["ts"], event.get("user", "")
                    enqueue_on_commit("slackbot.pin_reaction", channel, ts, user)
    except IntegrityError:
        log.info(
            "Slack event %s delivered again (retry %s); ignored", event_id, request.headers.get("X-Slack-Retry-Num")
        )
    return HttpResponse(status=200)
