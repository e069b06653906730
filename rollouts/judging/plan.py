"""One error budget per run: how many looks a run plans, and which of them may spend alpha.

The judge spends the run's alpha over its *tested* looks with a Lan-DeMets spending function (Pocock-type by
default) and a run-wide maximum: look k of K may reject only at alpha(k/K) - alpha((k-1)/K). K is fixed when the
run starts, from its steps: every analysis step plans ``analysis_looks`` tested looks and the bake plans
``bake_looks``. The counter is the run's, not the step's: promotion, pauses and resumes continue it, so by the
union bound the chance that a healthy run is ever rolled back -- every step, every look, every metric (Holm
shares a look's increment among them) -- is at most alpha. A look that cannot test anything (too few samples,
no data, a broken split) cannot reject, so it spends nothing and keeps its place in the budget; once K tested
looks are spent the judge has nothing left to reject with and the run waits for a person.
"""

from __future__ import annotations

import math


def bake_looks(step: dict, cfg: dict) -> int:
    return max(1, int(step.get("looks", cfg["bake_looks"])))


def analysis_looks(step: dict, cfg: dict) -> int:
    return max(1, int(step.get("looks", cfg["analysis_looks"])))


def planned_looks(steps: list[dict], cfg: dict) -> int:
    """K: the tested looks the run's steps plan, the denominator of the run's information fraction."""
    total = 0
    for step in steps:
        if step.get("type") == "analysis":
            total += analysis_looks(step, cfg)
        elif step.get("type") == "bake":
            total += bake_looks(step, cfg)
    return max(total, 1)


def look_interval(step: dict, cfg: dict) -> float:
    """Seconds between looks: an analysis step's ``seconds`` (or ``analysis_seconds``); a bake spreads its
    looks over its duration unless it names an ``interval``."""
    if step.get("type") == "bake":
        if step.get("interval"):
            return float(step["interval"])
        return max(bake_duration(step, cfg) / bake_looks(step, cfg), 0.001)
    return float(step.get("interval") or step.get("seconds") or cfg["analysis_seconds"])


def bake_duration(step: dict, cfg: dict) -> float:
    return float(step.get("seconds", cfg["bake_seconds"]))


def max_wait_looks(step: dict, cfg: dict) -> int:
    """Looks a step may spend waiting for enough data before it pauses for a person."""
    return max(0, int(step.get("max_wait_looks", cfg["max_wait_looks"])))


def holdback_weight(cfg: dict) -> int:
    """The candidate's weight during the bake: 100 minus the stable share kept as the bake's control."""
    return 100 - math.ceil(cfg["bake_holdback_percent"])
