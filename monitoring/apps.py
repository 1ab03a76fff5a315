from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from integration_site.dashboard import register_panel
        from integration_site.demo import register_demo_loader
        from monitoring import tasks  # noqa: F401 (registers the periodic monitors)
        from monitoring.dashboard import events_panel
        from monitoring.demo import load_demo

        register_panel(events_panel)
        register_demo_loader("monitoring", load_demo)
