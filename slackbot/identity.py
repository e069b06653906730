"""Which Rewind user is this Slack user? An explicit link (User.slack_user_id) wins; otherwise Slack's
users.info e-mail is matched to exactly one active Rewind user, and the link is then stored."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from core.audit import audit_record
from core.models import User
from slackbot.client import slack_client

log = logging.getLogger(__name__)


class SlackUserProblem(Exception):
    """The Slack user cannot act in Rewind; the message is shown to them as an ephemeral reply."""


def slack_user_resolve(slack_user_id: str) -> User:
    if not slack_user_id:
        raise SlackUserProblem("Slack did not say who you are; nothing was changed.")
    linked = User.objects.filter(slack_user_id=slack_user_id).first()
    if linked is not None:
        if not linked.is_active:
            raise SlackUserProblem("Your Rewind account is deactivated; nothing was changed.")
        return linked
    try:
        profile = slack_client().users_info(user=slack_user_id)["user"].get("profile", {})
    except (SlackApiError, OSError) as exc:  # OSError: Slack unreachable (URLError, timeouts)
        log.warning("users.info failed for %s: %s", slack_user_id, exc)
        raise SlackUserProblem(
            "Slack could not tell Rewind who you are (users.info failed); nothing was changed."
        ) from exc
    email = (profile.get("email") or "").strip()
    if not email:
        raise SlackUserProblem(
            "Your Slack account is not linked to a Rewind user and Slack shares no e-mail for it. "
            "Ask an admin to set your Slack user id on your Rewind profile; nothing was changed."
        )
    matches = list(User.objects.filter(email__iexact=email, is_active=True)[:2])
    if len(matches) != 1:
        raise SlackUserProblem(
            f"No single Rewind user has the e-mail {email}, so your Slack account is not linked. "
            "Ask an admin to link it; nothing was changed."
        )
    user = matches[0]
    if user.slack_user_id and user.slack_user_id != slack_user_id:
        raise SlackUserProblem(
            f"The Rewind user with e-mail {email} is linked to another Slack account; nothing was changed."
        )
    User.objects.filter(pk=user.pk, slack_user_id="").update(slack_user_id=slack_user_id)
    user.slack_user_id = slack_user_id
    audit_record(
        actor=user,
        action="user.slack_link",
        obj=user,
        before={"slack_user_id": ""},
        after={"slack_user_id": slack_user_id},
        reason="linked by e-mail from Slack users.info",
    )
    return user
