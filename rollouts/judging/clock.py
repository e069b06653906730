"""The one clock the rollout engine and the judge read. Everything that decides when a step or a look is due,
and which minutes a look covers, takes its time from :func:`now`, so a simulation can run the real engine on a
simulated clock by replacing this one function (bench/judge_quality.py does)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
