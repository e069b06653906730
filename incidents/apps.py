from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents and postmortems"
    demo_loader = "incidents.demo.load"

    def ready(self) -> None:
        # Signal receivers register when their module is imported; the import is the point.
        from incidents import receivers  # noqa: F401
