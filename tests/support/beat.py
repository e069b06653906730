"""A real ``celery beat`` process for tests that need the schedule (e.g. the rollout tick)."""

from __future__ import annotations

from tests.support.worker import CeleryProcess


class CeleryBeat(CeleryProcess):
    kind = "beat"

    def __init__(self, *, tick_seconds: float = 0.3, extra_env: dict | None = None):
        super().__init__(extra_env=extra_env)
        self.tick_seconds = tick_seconds

    def celery_args(self) -> list[str]:
        return ["beat", "-l", "info", "-s", str(self._dir / "schedule"), "--max-interval", "1"]

    def start(self) -> None:
        self._spawn({"REWIND_ROLLOUT_TICK_SECONDS": str(self.tick_seconds)})
