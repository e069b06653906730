"""Reads for the rollout pages: the runs list, a run's step timeline, and the canary-vs-baseline chart."""

from __future__ import annotations

import json
from dataclasses import dataclass

import plotly.graph_objects as go
from django.db.models import Prefetch, QuerySet
from plotly.subplots import make_subplots

from rollouts.judging.models import Analysis
from rollouts.runs.models import RolloutRun, RolloutTransition, WebhookDelivery


def runs_for_list() -> QuerySet[RolloutRun]:
    return RolloutRun.objects.select_related(
        "environment__feature", "stable_release", "candidate_release", "requested_by"
    ).order_by("-created_at", "-id")


def run_for_page(pk: int) -> RolloutRun | None:
    return (
        runs_for_list()
        .prefetch_related(
            Prefetch("transitions", queryset=RolloutTransition.objects.order_by("created_at", "id")),
            Prefetch("analyses", queryset=Analysis.objects.order_by("created_at", "id")),
            Prefetch("deliveries", queryset=WebhookDelivery.objects.select_related("target").order_by("id")),
        )
        .filter(pk=pk)
        .first()
    )


@dataclass
class StepView:
    index: int
    label: str
    status: str  # done / current / todo


def step_label(step: dict, defaults: dict) -> str:
    kind = step.get("type")
    if kind == "weight":
        return f"{step['weight']} % to candidate"
    if kind == "pause":
        return f"pause {step['seconds']:g} s" if step.get("seconds") is not None else "pause until resumed"
    if kind == "analysis":
        return f"analysis every {step.get('seconds', defaults['analysis_seconds']):g} s"
    return f"bake {step.get('seconds', defaults['bake_seconds']):g} s"


def run_steps(run: RolloutRun, defaults: dict) -> list[StepView]:
    finished = not run.is_active
    views = []
    for i, step in enumerate(run.steps):
        if i < run.step_index or (finished and run.state == "succeeded"):
            status = "done"
        elif i == run.step_index and run.is_active:
            status = "current"
        else:
            status = "todo"
        views.append(StepView(i, step_label(step, defaults), status))
    return views


def analysis_figure(analyses: list[Analysis]) -> str | None:
    """Canary minus baseline per metric at each judgement, with the judge's interval: plotly JSON."""
    series: dict[str, list[tuple[str, float, float, float, str]]] = {}
    for a in analyses:
        for m in a.result.get("metrics", []):
            if m.get("estimate") is None:
                continue
            lo, hi = m.get("ci_low"), m.get("ci_high")
            series.setdefault(m["name"], []).append(
                (
                    f"step {a.step_index + 1} · look {a.look}",
                    m["estimate"],
                    (m["estimate"] - lo) if lo is not None else 0.0,
                    (hi - m["estimate"]) if hi is not None else 0.0,
                    m.get("verdict", ""),
                )
            )
    if not series:
        return None
    fig = make_subplots(rows=len(series), cols=1, subplot_titles=[f"{name}: canary - baseline" for name in series])
    for row, (name, points) in enumerate(series.items(), start=1):
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [p[3] for p in points],
                    "arrayminus": [p[2] for p in points],
                },
                mode="markers+lines",
                name=name,
                text=[p[4] for p in points],
                hovertemplate="%{x}<br>Δ=%{y:.4g} (%{text})<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_hline(y=0, line_dash="dot", line_color="#98a2b3", row=row, col=1)
    fig.update_layout(height=220 * len(series), margin={"l": 40, "r": 10, "t": 30, "b": 30}, showlegend=False)
    return json.dumps(fig.to_plotly_json(), default=str)
