"""Events of a rollout run that apps above rollouts act on (the incident timeline shows each transition of a
run linked to an incident) without rollouts importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transition's transaction with run, old, new, reason, actor, kind ("rollout" or "rollback").
run_transitioned = Signal()

# Sent inside the transaction that moves a run's traffic, with run, phase ("step<N>" or "rollback") and weight
# (the candidate's percent). Change events to other tools follow it (rollouts.runs.change_events).
weight_changed = Signal()
