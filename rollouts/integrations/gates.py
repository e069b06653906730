"""Rewind as the judge and gate of Argo Rollouts and Flagger.

* :func:`judge_status` answers Argo Rollouts' web metric provider: the verdict of the latest judged window of the
  environment's run in flight (or, with none in flight, of its latest judged run), as
  ``{"ok": verdict == "pass", "verdict", "reasons", ...}``; ``no_data`` when nothing was ever judged. It reads
  stored judgements and never judges on request, so polling it spends none of a run's false-rollback budget.
* :func:`flagger_decision` answers Flagger's ``confirm-rollout``, ``confirm-promotion`` and ``rollback`` webhooks
  with allow (HTTP 200) or refuse (HTTP 403) and the reasons:

  - ``confirm-rollout``: refused while Rewind's own judge says ``fail`` for the run in flight, and, when the
    canary named in ``metadata.release`` is older than the live release of a production environment, while the
    user-impact gate blocks that rollback (dependent workflows not reviewed) -- the same rule as every other door.
  - ``confirm-promotion``: allowed only on a ``pass`` (and the same impact rule); marginal, inconclusive and
    no data wait for a person.
  - ``rollback``: allowed (Flagger rolls back) only on a ``fail``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from rollouts.judging.models import Analysis
from rollouts.registry.models import Environment, Release
from rollouts.registry.selectors import live_release_at
from rollouts.runs.gates import rollback_gate
from rollouts.runs.models import ACTIVE_RUN_STATES, RolloutRun

HOOKS = ("confirm-rollout", "confirm-promotion", "rollback")


def _reasons(result: dict) -> list[str]:
    reasons = [result["reason"]] if result.get("reason") else []
    for metric in result.get("metrics", []):
        if metric.get("verdict") != "pass" or result.get("verdict") == "pass":
            text = metric.get("reason")
            if text and text not in reasons:
                reasons.append(text)
    return reasons


def judge_status(environment: Environment) -> dict:
    run = RolloutRun.objects.filter(environment=environment, state__in=ACTIVE_RUN_STATES).first()
    runs = RolloutRun.objects.filter(pk=run.pk) if run else RolloutRun.objects.filter(environment=environment)
    latest = Analysis.objects.filter(run__in=runs).select_related("run").order_by("-window_end", "-id").first()
    if latest is None:
        where = f"run #{run.pk} is in flight but no window has been judged yet" if run else "no judged window"
        return {
            "ok": False,
            "verdict": "no_data",
            "reasons": [f"{environment}: {where}."],
            "run": run.pk if run else None,
            "in_flight": run is not None,
        }
    return {
        "ok": latest.verdict == "pass",
        "verdict": latest.verdict,
        "reasons": _reasons(latest.result),
        "run": latest.run_id,
        "in_flight": run is not None,
        "run_state": latest.run.state,
        "look": latest.look,
        "step": latest.step_index,
        "window_start": latest.window_start.isoformat(),
        "window_end": latest.window_end.isoformat(),
        "metrics": [
            {k: m.get(k) for k in ("name", "verdict", "estimate", "ci_low", "ci_high", "source")}
            for m in latest.result.get("metrics", [])
        ],
    }


@dataclass
class Decision:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    verdict: str = "no_data"

    def as_dict(self, hook: str) -> dict:
        return {"hook": hook, "allowed": self.allowed, "verdict": self.verdict, "reasons": self.reasons}


def _impact_block(environment: Environment, candidate: int | None) -> str:
    """Why moving ``environment`` to release number ``candidate`` is blocked by the impact gate, or ''."""
    if candidate is None or not environment.is_production:
        return ""
    live = live_release_at(environment, timezone.now())
    if live is None or candidate >= live.number:
        return ""
    if not Release.objects.filter(feature=environment.feature_id, number=candidate).exists():
        return f"{environment.feature.slug} has no release #{candidate}."
    gate = rollback_gate(environment=environment, from_release=live)
    if gate.blocked:
        return f"Release #{candidate} is older than the live #{live.number}: {gate.reason}"
    return ""


def flagger_decision(*, environment: Environment, hook: str, candidate: int | None = None) -> Decision:
    if hook not in HOOKS:
        raise ValueError(f"Unknown Flagger hook {hook!r}")
    status = judge_status(environment)
    verdict, reasons = status["verdict"], list(status["reasons"])
    if hook == "rollback":
        if verdict == "fail":
            return Decision(True, reasons, verdict)
        return Decision(False, [f"No rollback: the judge's latest verdict is {verdict}.", *reasons], verdict)
    blocked = _impact_block(environment, candidate)
    if blocked:
        return Decision(False, [blocked], verdict)
    if hook == "confirm-rollout":
        if verdict == "fail" and status["in_flight"]:
            return Decision(False, ["The run in flight failed its canary judgement.", *reasons], verdict)
        return Decision(True, reasons or ["Nothing blocks a rollout."], verdict)
    if verdict == "pass":
        return Decision(True, reasons, verdict)
    return Decision(False, [f"Promotion waits: the judge's latest verdict is {verdict}.", *reasons], verdict)
