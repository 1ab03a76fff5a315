from django.apps import AppConfig

# Sensu's API lives at the root.
SENSU_API_PATH_PREFIXES = (
    "/events",
    "/incidents",
    "/resolve",
    "/clients",
    "/checks",
    "/request",
    "/results",
    "/silenced",
    "/stashes",
    "/stash/",
    "/aggregates",
    "/info",
    "/settings",
)


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from integration_site.admin_site import AdminPage
        from integration_site.registry import registry
        from monitoring import checks, tasks  # noqa: F401 (register system checks, periodic jobs)
        from monitoring.dashboard import events_panel
        from monitoring.demo import load_demo
        from monitoring.handling.dispatch import handling_loop
        from monitoring.scheduler import check_scheduler_loop
        from monitoring.snapshots import load_snapshot_history_demo  # and its periodic job

        registry["api_path_prefixes"].add(*SENSU_API_PATH_PREFIXES)
        registry["dashboard_panels"].add(events_panel)
        registry["admin_pages"].add(
            AdminPage(
                "monitoring", "Overview", "admin:monitoring_event_overview", "monitoring.view_event"
            )
        )
        registry["demo_loaders"]["monitoring"] = load_demo
        # After "monitoring": the history ends at the demo's open events.
        registry["demo_loaders"]["monitoring history"] = load_snapshot_history_demo
        # Handlers run in the worker, after the engine commits, never in a request.
        registry["worker_threads"].add(handling_loop)
        # Check requests leave on time even while a long task runs (a results drain).
        registry["worker_threads"].add(check_scheduler_loop)
        self.transport_register()

    @staticmethod
    def transport_register() -> None:
        """
        Sensu's RabbitMQ transport (monitoring/sensu/transport.py): its publisher for the
        domain (monitoring.bus) when SENSU_TRANSPORT_URL is set, and its consumers as worker
        threads (they return at once without the setting).
        """
        from django.conf import settings

        from integration_site.registry import registry
        from monitoring.bus import publisher_set
        from monitoring.sensu.transport import Publisher, keepalives_consume, results_consume

        registry["worker_threads"].add(keepalives_consume, results_consume)
        if settings.SENSU_TRANSPORT_URL:
            publisher_set(Publisher(settings.SENSU_TRANSPORT_URL))
