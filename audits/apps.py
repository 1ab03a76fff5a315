from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audits import signals  # noqa: F401 (audits sign-ins and Django's User/Group)
        from audits.demo import load_audit_demo
        from integration_site.demo import register_demo_loader

        register_demo_loader("audit trail", load_audit_demo)
