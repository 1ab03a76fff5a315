from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_console_options(sender, **kwargs) -> None:
    # Every migrate (and every test-database flush) adds documented options that are missing;
    # values an operator changed are never overwritten.
    from audits.context import audit_context
    from licensing.services.options import console_options_seed

    with audit_context():
        console_options_seed()


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Licensing and updates"

    def ready(self) -> None:
        from integration_site.admin_site import AdminPage
        from integration_site.registry import registry
        from licensing import checks, tasks  # noqa: F401 (system checks; update jobs, reaper)
        from licensing.dashboard import licensing_panel, startup_status_panel
        from licensing.demo import load_licensing_demo

        post_migrate.connect(_seed_console_options, sender=self, dispatch_uid="licensing-seed")
        # Replicated's License, Console (options), Version and Status APIs.
        registry["api_path_prefixes"].add("/license/", "/console/", "/version/", "/status/")
        registry["dashboard_panels"].add(startup_status_panel, licensing_panel)
        registry["demo_loaders"]["licensing and updates"] = load_licensing_demo
        registry["admin_pages"].add(
            AdminPage(
                "licensing", "Updates", "admin:licensing_release_updates", "licensing.view_release"
            )
        )
