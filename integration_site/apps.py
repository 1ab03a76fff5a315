from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class IntegrationAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "integration_site.admin_site.IntegrationAdminSite"


class IntegrationSiteConfig(AppConfig):
    default = True
    name = "integration_site"
    verbose_name = "Integration API"

    def ready(self) -> None:
        from integration_site import (
            checks,  # noqa: F401 (system checks of the platform's settings)
            schema,  # noqa: F401 (registers OpenAPI auth extensions)
        )
        from integration_site.errors import PLATFORM_API_PATH_PREFIXES
        from integration_site.registry import registry

        registry["api_path_prefixes"].add(*PLATFORM_API_PATH_PREFIXES)
