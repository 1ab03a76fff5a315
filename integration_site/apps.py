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
        from audits.auditing import audit_register
        from integration_site import schema  # noqa: F401 (registers OpenAPI auth extensions)
        from integration_site.models import ApiToken

        # Only the digest is stored, and it is redacted in the trail like any secret.
        audit_register(ApiToken, type_name="ApiToken", name_of=lambda token: token.name)
