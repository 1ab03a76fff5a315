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
        from django.db.models.signals import post_migrate, pre_migrate

        from integration_site import (
            checks,  # noqa: F401 (system checks of the platform's settings)
            schema,  # noqa: F401 (registers OpenAPI auth extensions)
            tasks,  # noqa: F401 (periodic housekeeping: dead workers' task rows)
        )
        from integration_site.db_limits import migrate_limits_lift, migrate_limits_restore
        from integration_site.errors import PLATFORM_API_PATH_PREFIXES
        from integration_site.registry import registry

        registry["api_path_prefixes"].add(*PLATFORM_API_PATH_PREFIXES)
        # Migrations run without the request time limits (integration_site.db_limits).
        pre_migrate.connect(migrate_limits_lift, sender=self)
        post_migrate.connect(migrate_limits_restore, sender=self)
