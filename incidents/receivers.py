"""The incident timeline's reactions to events of the apps below incidents (rollout runs, layer diagnoses):
they announce what happened; the timeline records it on the incident it affects. Connected in
IncidentsConfig.ready."""

from __future__ import annotations

from django.dispatch import receiver

from diagnostics.signals import layer_changed
from incidents.models import Incident
from incidents.timeline import timeline_record
from rollouts.runs.signals import run_transitioned


@receiver(run_transitioned)
def timeline_shows_run_transition(sender, *, run, old, new, reason, actor, kind, **_kwargs) -> None:
    if not run.incident_id:
        return
    incident = Incident.objects.filter(pk=run.incident_id).first()
    if incident is None:
        return
    timeline_record(
        incident=incident,
        kind=kind,
        text=f"{run.kind.capitalize()} #{run.pk} of {run.environment}: {old} → {new}. {reason}".strip(),
        actor=actor,
        data={"run": run.pk, "old": old, "new": new, "step_index": run.step_index},
    )


@receiver(layer_changed)
def timeline_shows_layer_change(sender, *, diagnosis, kind, text, actor, data, **_kwargs) -> None:
    timeline_record(incident=diagnosis.incident, kind=kind, text=text, actor=actor, data=data)
