"""The run engine's reactions to registry events; connected in RolloutsConfig.ready."""

from __future__ import annotations

from django.dispatch import receiver

from rollouts.registry.signals import deployment_recorded
from rollouts.runs.routing import routing_publish


@receiver(deployment_recorded)
def routing_follows_deployment(sender, *, event, **_kwargs) -> None:
    """Gateways read the materialised routing table; keep it in step with what is now live."""
    routing_publish(event.environment)
