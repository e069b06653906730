"""Named step plans people pick from instead of writing step lists: for starting a rollout and for rolling back.

A rollback goes to a release that was live (and judged) not long ago, so the default does not re-run the whole
canary analysis: like Argo Rollouts' ``rollbackWindow``, which skips analysis when going back to a recent revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollouts.runs.models import RunMode
from rollouts.runs.services import default_steps


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    help: str
    mode: str
    steps: tuple = ()

    def step_list(self) -> list[dict]:
        return [dict(step) for step in self.steps] if self.steps else default_steps()


def _weights(*weights: int, analysis: bool, seconds: int | None = None) -> tuple:
    steps: list[dict] = []
    for weight in weights:
        steps.append({"type": "weight", "weight": weight})
        if analysis and weight < 100:
            steps.append({"type": "analysis"})
        elif weight < 100:
            steps.append({"type": "pause", "seconds": seconds or 60})
    return tuple(steps)


ROLLOUT_PRESETS = {
    p.key: p
    for p in (
        Preset(
            "canary",
            "Canary (1 → 5 → 25 → 50 → 100 %, judged, then a bake)",
            "Every step is judged against the stable release; the judge rolls back on a regression.",
            RunMode.STAGED,
        ),
        Preset(
            "quick",
            "Quick canary (10 → 50 → 100 %, judged)",
            "Fewer steps for low-risk changes (a prompt wording fix); still judged at each step.",
            RunMode.STAGED,
            (*_weights(10, 50, analysis=True), {"type": "weight", "weight": 100}),
        ),
        Preset(
            "custom",
            "Custom steps",
            "Write the steps: one per line, e.g. 'weight 10', 'analysis', 'pause 120', 'weight 100', 'bake'.",
            RunMode.STAGED,
        ),
    )
}
DEFAULT_ROLLOUT_PRESET = "canary"

ROLLBACK_PRESETS = {
    p.key: p
    for p in (
        Preset(
            "fast",
            "Fast staged (50 % for a minute, then 100 %; no analysis)",
            "The target was live recently: a short look at half the traffic, no canary analysis. About a minute.",
            RunMode.STAGED,
            ({"type": "weight", "weight": 50}, {"type": "pause", "seconds": 60}, {"type": "weight", "weight": 100}),
        ),
        Preset(
            "immediate",
            "Immediate (all traffic at once)",
            "Every request goes to the target as soon as you submit: for an outage.",
            RunMode.IMMEDIATE,
            ({"type": "weight", "weight": 100},),
        ),
        Preset(
            "full",
            "Full staged (the canary steps, judged, then a bake)",
            "Treat the target like a new release: five judged steps and a bake (about 55 minutes with the defaults).",
            RunMode.STAGED,
        ),
    )
}
DEFAULT_ROLLBACK_PRESET = "fast"


def parse_steps(text: str) -> list[dict]:
    """'weight 10' / 'analysis' / 'pause 120' / 'bake' lines → step dicts (the service validates them)."""
    steps: list[dict] = []
    for raw in (text or "").splitlines():
        words = raw.strip().lower().replace("%", "").split()
        if not words:
            continue
        kind, rest = words[0], words[1:]
        step: dict = {"type": kind}
        if rest:
            try:
                number = float(rest[0])
            except ValueError:
                number = rest[0]
            if kind == "weight":
                step["weight"] = int(number) if isinstance(number, float) and number.is_integer() else number
            else:
                step["seconds"] = number
        steps.append(step)
    return steps


def describe(steps: list[dict]) -> str:
    """Steps in words, for the form's preview: '10 % → judged → 50 % → judged → 100 %'."""
    words = []
    for step in steps:
        if step["type"] == "weight":
            words.append(f"{step['weight']} %")
        elif step["type"] == "analysis":
            words.append("judged")
        elif step["type"] == "pause":
            words.append(f"pause {step.get('seconds', '…')} s" if step.get("seconds") is not None else "pause")
        else:
            words.append(step["type"])
    return " → ".join(words)
