from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    # The label from when this app lived in integration_site/console: it names the tables
    # and the migration history of every install, so it stays.
    label = "console"
    verbose_name = "Identity and provisioning"

    def ready(self) -> None:
        from identity import (  # noqa: F401 (system checks, receivers, periodic sync)
            checks,
            signals,
            tasks,
        )
        from identity.demo import load_identity_demo
        from identity.panels import provisioning_panel
        from integration_site.registry import registry

        # Replicated's Identity API, and the console sign-in it backs.
        registry["api_path_prefixes"].add("/identity/", "/console/")
        registry["demo_loaders"]["identity"] = load_identity_demo
        registry["dashboard_panels"].add(provisioning_panel)
