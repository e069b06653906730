"""Change events follow the registry's deployments and the run engine's weight changes; connected in
RolloutsConfig.ready."""

from __future__ import annotations

from django.dispatch import receiver

from rollouts.registry.signals import deployment_recorded
from rollouts.runs.change_events.services import change_events_for_deployment, change_events_for_step
from rollouts.runs.signals import weight_changed


@receiver(deployment_recorded)
def change_events_follow_deployment(sender, *, event, **_kwargs) -> None:
    change_events_for_deployment(event)


@receiver(weight_changed)
def change_events_follow_weight(sender, *, run, phase, weight, **_kwargs) -> None:
    change_events_for_step(run=run, phase=phase, weight=weight)
