"""Demo data: a few clients, check definitions, open events and a silence."""

from audits.context import audit_context
from monitoring.engine import now_epoch, result_process
from monitoring.models import CheckDefinition
from monitoring.services import client_register, silence_create


def load_demo(say) -> None:
    with audit_context():
        for name, address, subscriptions in (
            ("web-1", "10.0.0.11", ["webserver", "production"]),
            ("web-2", "10.0.0.12", ["webserver", "production"]),
            ("db-1", "10.0.0.21", ["database", "production"]),
        ):
            client_register(
                data={
                    "name": name,
                    "address": address,
                    "subscriptions": subscriptions,
                    "keepalives": True,
                    "environment": "production",
                }
            )
        CheckDefinition.objects.create(
            name="check_http",
            command="check-http.rb -u http://localhost/health",
            subscribers=["webserver"],
            interval=60,
            handlers=["default"],
            low_flap_threshold=20,
            high_flap_threshold=60,
        )
        CheckDefinition.objects.create(
            name="check_disk",
            command="check-disk-usage.rb -w 80 -c 90",
            subscribers=["production"],
            interval=300,
            ttl=900,
        )
        CheckDefinition.objects.create(
            name="check_backup",
            command="check-backup.sh",
            subscribers=["database"],
            interval=3600,
            auto_resolve=False,
        )
        now = now_epoch()
        runs = [
            ("web-1", "check_http", 0, "HTTP OK: 200"),
            ("web-1", "check_disk", 0, "DISK OK: / 41%"),
            ("web-2", "check_http", 1, "HTTP WARNING: 1.8 s response time"),
            ("web-2", "check_http", 1, "HTTP WARNING: 2.1 s response time"),
            ("db-1", "check_disk", 1, "DISK WARNING: /var/lib/postgresql 84%"),
            ("db-1", "check_disk", 2, "DISK CRITICAL: /var/lib/postgresql 93%"),
            ("db-1", "check_disk", 2, "DISK CRITICAL: /var/lib/postgresql 94%"),
            ("db-1", "check_backup", 2, "CRITICAL: last backup 30 hours ago"),
        ]
        for offset, (client, check, status, output) in enumerate(runs):
            executed = now - (len(runs) - offset) * 60
            result_process(
                client_name=client,
                check={"name": check, "status": status, "output": output, "executed": executed},
                now=executed,
            )
        silence_create(
            subscription="client:web-2",
            check="check_http",
            reason="Load test in progress",
            creator="demo",
            expire=3600,
            expire_on_resolve=True,
        )
    say("Monitoring: 3 clients, 3 checks, 3 open events, 1 silence.")
