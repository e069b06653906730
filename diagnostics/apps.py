from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    name = "diagnostics"
    verbose_name = "Diagnosis and behaviour diffs"
    demo_loader = "diagnostics.demo.load"

    def ready(self) -> None:
        # Imported here, not at module top: app modules load models, which Django allows only once apps are ready.
        from diagnostics.reports.services import report_gate_link, report_gate_problem
        from rollouts.runs.gates import ReportGate, report_gate_register

        # Rollout runs may be gated on a passing behaviour-diff report; rollouts cannot import diagnostics.
        report_gate_register(ReportGate(problem=report_gate_problem, link=report_gate_link))
