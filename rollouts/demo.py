"""Demo data for rollouts: the registry first, then observations and an impact plan on top of it."""

from __future__ import annotations

from rollouts.impact.demo import load_impact
from rollouts.registry import demo as registry_demo


def load(people) -> None:
    registry_demo.load(people)
    load_impact(people)
