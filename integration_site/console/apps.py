from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "integration_site.console"
    label = "console"
    verbose_name = "Identity and provisioning"
