"""The bot's view of rollout orchestration (rollouts app): default rollback target, impact gate, runs in
flight, starting a rollback. Kept in one module so the bot reads one contract."""

from __future__ import annotations


def rollback_default_target(*, environment, current):
    raise NotImplementedError


def rollback_impact(*, environment, current) -> tuple[list[str], str]:
    raise NotImplementedError


def runs_in_flight():
    raise NotImplementedError


def run_line(run) -> str:
    raise NotImplementedError


def rollback_start(*, actor, environment, target):
    raise NotImplementedError


def run_progress(run_id: int):
    """-> (status, is_finished, line) for a run, or None if it is gone."""
    raise NotImplementedError
