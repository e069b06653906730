"""Who acts when no person does: the rollout engine driving a run, the canary judge rolling a failing canary
back, beat resuming stale reports, the bot posting to Slack.

Every service takes an explicit ``actor``; work that nobody clicked passes a ``SystemActor`` naming the job.
It is not a user (it owns nothing and cannot sign in); the audit log and the timelines show it by name, as
``system:<job>``. It passes permission checks: it only continues work a person was allowed to start, or does
the system's own job (the judge's verdict, a reminder)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemActor:
    job: str
    pk = None
    is_authenticated = True
    is_active = True

    def has_role(self, _minimum) -> bool:
        return True

    def get_username(self) -> str:
        return f"system:{self.job}"

    def __str__(self) -> str:
        return self.get_username()


def system_actor(job: str) -> SystemActor:
    return SystemActor(job=job)
