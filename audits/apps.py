from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audits import (
            signals,  # noqa: F401 (audits sign-ins and Django's User/Group)
            tasks,  # noqa: F401 (registers the idempotency-key purge)
        )
        from audits.demo import load_audit_demo
        from integration_site.demo import register_demo_loader

        register_demo_loader("audit trail", load_audit_demo)

        from audits.chain import audit_worker_tick
        from integration_site.schedule import on_worker_tick

        on_worker_tick(audit_worker_tick)

        from audits.taxonomy import register_taxonomy_auditing

        register_taxonomy_auditing()
