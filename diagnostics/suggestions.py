"""A transparent ranking of the layers most likely at fault, each with the reasons that put it there.

Heuristics, not a model: a prompt edit points at the prompt; a model snapshot or precision change with stable
inputs points at the model; an embedding or index change points at data; nothing changed at all points at the
inputs (data) and at monitoring. Changes close to the start of impact weigh more."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from diagnostics.models import DiagnosisLayer, Verdict

NEAR_IMPACT = dt.timedelta(days=3)


class ChangesByLayer(Protocol):
    """What changed in an incident's window, per layer (the incident page's "what changed" panel builds it)."""

    by_layer: dict[str, list]


@dataclass
class LayerSuggestion:
    layer: str
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return DiagnosisLayer(self.layer).label

    def add(self, weight: float, reason: str) -> None:
        self.score += weight
        self.reasons.append(reason)


def _weight_for(item_title: str) -> float:
    title = item_title.lower()
    if "alias" in title or "precision" in title or "quantization" in title or "embedding" in title:
        return 3.0
    if "prompt" in title:
        return 3.0
    return 2.0


def suggest_layers(incident, changed: ChangesByLayer, diagnoses) -> list[LayerSuggestion]:
    suggestions = {layer: LayerSuggestion(layer) for layer in DiagnosisLayer.values}
    impact = incident.impact_started_at
    release_changes = 0
    for layer, items in changed.by_layer.items():
        for item in items:
            if item.when > impact + dt.timedelta(hours=1) and not item.is_rollback:
                continue  # changed after impact began: a fix attempt, not a cause
            near = impact - item.when <= NEAR_IMPACT
            factor = 1.0 if near else 0.5
            ago = impact - item.when
            when = f"{ago.days}d {ago.seconds // 3600}h before impact" if ago.total_seconds() >= 0 else "during impact"
            if item.source == "release":
                release_changes += 1
                suggestions[layer].add(_weight_for(item.title) * factor, f"{item.title} ({item.where}, {when})")
            else:
                suggestions[layer].add(1.5 * factor, f"change event: {item.title} ({when})")
    if release_changes == 0:
        suggestions[DiagnosisLayer.DATA].add(
            2.0, "no release changed in the window: an input or upstream data shift is the likeliest cause"
        )
        suggestions[DiagnosisLayer.PRODUCT].add(1.0, "no release changed: check what monitoring saw move first")
    lag = incident.detected_at - incident.impact_started_at
    if lag > dt.timedelta(hours=1):
        hours = lag.total_seconds() / 3600
        suggestions[DiagnosisLayer.PRODUCT].add(
            min(2.0, 0.5 + hours / 24), f"detected {hours:.0f}h after impact began: a monitoring blind spot?"
        )
    stale = [f for f in incident.features.all() if f.eval_baseline_stale]
    for feature in stale:
        suggestions[DiagnosisLayer.PRODUCT].add(
            1.5, f"eval baseline of {feature.slug} is stale: {feature.eval_baseline_stale_reason}"
        )
    for diagnosis in diagnoses:
        s = suggestions[diagnosis.layer]
        if diagnosis.status == Verdict.RULED_OUT:
            s.score *= 0.2
            s.reasons.append("ruled out by its owner")
        elif diagnosis.status in (Verdict.CONTRIBUTING, Verdict.ROOT_CAUSE):
            s.add(5.0, f"marked {diagnosis.get_status_display().lower()} by its owner")
    ranked = sorted(suggestions.values(), key=lambda s: (-s.score, DiagnosisLayer.values.index(s.layer)))
    for s in ranked:
        s.score = round(s.score, 2)
        if not s.reasons:
            s.reasons.append("nothing in the window points here")
    return ranked
