"""The `rollouts` app label's models, defined in the sub-package of their concern and gathered here so Django
registers them under one label with their table names (no data migration when a model moves between
sub-packages). Other apps import from here; code inside `rollouts/` imports its sub-package's models directly."""

from __future__ import annotations

from rollouts.impact.models import (  # noqa: F401
    Behaviour,
    DependentWorkflow,
    ImpactFollowup,
    ImpactSource,
    ImpactStatus,
    ImpactWaiver,
)
from rollouts.judging.models import (  # noqa: F401
    LATENCY_BUCKETS_MS,
    Analysis,
    Observation,
    ObservationReservoir,
    ObservationRollup,
    ObservationSample,
    WorkflowRollup,
)
from rollouts.registry.models import (  # noqa: F401
    AdapterVersion,
    ComponentVersion,
    DeploymentEvent,
    Environment,
    Feature,
    IndexVersion,
    Layer,
    ModelVersion,
    Precision,
    PromptVersion,
    Release,
    ReleaseAdapter,
    Source,
    manifest_hash_of,
    manifest_of,
)
from rollouts.runs.change_events.models import ChangeEventDelivery, ChangeEventTarget  # noqa: F401
from rollouts.runs.models import (  # noqa: F401
    ACTIVE_RUN_STATES,
    FINAL_RUN_STATES,
    DeliveryStatus,
    RolloutRun,
    RolloutTransition,
    RoutingTable,
    RunKind,
    RunMode,
    RunState,
    WebhookDelivery,
    WebhookTarget,
)
