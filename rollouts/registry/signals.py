"""Events of the release registry that the run engine acts on, so the registry never imports runs."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that records a deployment, with event (a DeploymentEvent). The routing table
# gateways read is re-derived from it (rollouts.runs.receivers).
deployment_recorded = Signal()
