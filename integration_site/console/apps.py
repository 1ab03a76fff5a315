from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "integration_site.console"
    label = "console"
    verbose_name = "Identity and provisioning"

    def ready(self) -> None:
        from integration_site.console import signals, tasks  # noqa: F401 (receivers, periodic sync)
        from integration_site.console.demo import load_identity_demo
        from integration_site.console.panels import provisioning_panel
        from integration_site.dashboard import register_panel
        from integration_site.demo import register_demo_loader

        register_demo_loader("identity", load_identity_demo)
        register_panel(provisioning_panel)
