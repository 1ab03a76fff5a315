from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audits import (
            signals,  # noqa: F401 (audits sign-ins, Django's User/Group and API tokens)
            tasks,  # noqa: F401 (registers the idempotency-key purge)
        )
        from audits.chain import audit_worker_tick
        from audits.demo import load_audit_demo
        from audits.foreman.auditing import foreman_auditing_register
        from integration_site.registry import registry

        # The Replicated Audit API, and Foreman's API and its apipie docs.
        registry["api_path_prefixes"].add("/audit/", "/api/", "/apidoc/")
        registry["demo_loaders"]["audit trail"] = load_audit_demo
        registry["worker_tick_hooks"].add(audit_worker_tick)
        foreman_auditing_register()
