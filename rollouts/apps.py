from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Releases and rollouts"
    demo_loader = "rollouts.demo.load"

    def ready(self) -> None:
        # Signal receivers register when their module is imported; the import is the point.
        # The registry's rollback rule needs the user-impact gate, which lives above it (see registry/rollbacks.py).
        from rollouts.registry.rollbacks import impact_gate_register
        from rollouts.runs import receivers  # noqa: F401
        from rollouts.runs.change_events import receivers as change_event_receivers  # noqa: F401
        from rollouts.runs.gates import rollback_gate

        impact_gate_register(rollback_gate)
