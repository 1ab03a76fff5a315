from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from datetime import timedelta

        from django.conf import settings
        from django.db.models.signals import post_migrate

        from audits import (
            checks,  # noqa: F401 (the deploy check of the database role)
            signals,  # noqa: F401 (audits sign-ins, Django's User/Group and API tokens)
            tasks,  # registers the idempotency-key purge; the anchor job is registered below
        )
        from audits.chain import audit_worker_tick
        from audits.dashboard import audit_activity_panel
        from audits.demo import load_audit_demo
        from audits.foreman.auditing import foreman_auditing_register
        from audits.retraced import tasks as retraced_tasks  # noqa: F401 (the viewer purge)
        from audits.retraced.authentication import ENTERPRISE_TOKEN_IN_PATH, VIEWER_SESSION_IN_QUERY
        from audits.retraced.base import retraced_url_prefix
        from audits.tenancy import token_tenancy_check
        from integration_site.registry import registry
        from integration_site.schedule import periodic

        # The Replicated Audit API, and Foreman's API and its apipie docs.
        registry["api_path_prefixes"].add(
            "/audit/",
            "/api/",
            "/apidoc/",
            *(f"/{retraced_url_prefix()}{api}/" for api in ("publisher", "viewer", "enterprise")),
        )
        registry["demo_loaders"]["audit trail"] = load_audit_demo
        registry["dashboard_panels"].add(audit_activity_panel)
        registry["worker_tick_hooks"].add(audit_worker_tick)
        registry["token_tenancy_checks"].add(token_tenancy_check)
        registry["secret_path_patterns"].add(ENTERPRISE_TOKEN_IN_PATH, VIEWER_SESSION_IN_QUERY)
        periodic(every=timedelta(seconds=settings.AUDIT_ANCHOR_INTERVAL_SECONDS))(
            tasks.audit_chain_anchor
        )
        post_migrate.connect(_retention_floor_apply, sender=self)
        post_migrate.connect(_default_tenancy_ensure, sender=self)
        foreman_auditing_register()


def _default_tenancy_ensure(sender, using, **kwargs) -> None:
    from audits.tenancy import default_tenancy_ensure

    default_tenancy_ensure(using=using)


def _retention_floor_apply(sender, using, **kwargs) -> None:
    from audits.services import audit_retention_floor_apply

    audit_retention_floor_apply(using=using)
