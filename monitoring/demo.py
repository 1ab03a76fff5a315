"""Demo data: a few clients, check definitions, open events and a silence."""

from audits.context import audit_context
from monitoring.engine import result_process
from monitoring.models import (
    CheckDefinition,
    CheckResult,
    Client,
    Silence,
    epoch_now,
    silence_key,
)
from monitoring.services import client_register, silence_create

DEMO_CLIENTS = (
    ("web-1", "10.0.0.11", ["webserver", "production"]),
    ("web-2", "10.0.0.12", ["webserver", "production"]),
    ("db-1", "10.0.0.21", ["database", "production"]),
)
DEMO_CHECKS = (
    {
        "name": "check_http",
        "command": "check-http.rb -u http://localhost/health",
        "subscribers": ["webserver"],
        "interval": 60,
        "handlers": ["default"],
        "low_flap_threshold": 20,
        "high_flap_threshold": 60,
    },
    {
        "name": "check_disk",
        "command": "check-disk-usage.rb -w 80 -c 90",
        "subscribers": ["production"],
        "interval": 300,
        "ttl": 900,
    },
    {
        "name": "check_backup",
        "command": "check-backup.sh",
        "subscribers": ["database"],
        "interval": 3600,
        "auto_resolve": False,
    },
)
# Oldest first: web-2 WARNING (2 occurrences), db-1 disk WARNING then CRITICAL, db-1 backup
# CRITICAL; web-1 stays OK.
DEMO_RUNS = (
    ("web-1", "check_http", 0, "HTTP OK: 200"),
    ("web-1", "check_disk", 0, "DISK OK: / 41%"),
    ("web-2", "check_http", 1, "HTTP WARNING: 1.8 s response time"),
    ("web-2", "check_http", 1, "HTTP WARNING: 2.1 s response time"),
    ("db-1", "check_disk", 1, "DISK WARNING: /var/lib/postgresql 84%"),
    ("db-1", "check_disk", 2, "DISK CRITICAL: /var/lib/postgresql 93%"),
    ("db-1", "check_disk", 2, "DISK CRITICAL: /var/lib/postgresql 94%"),
    ("db-1", "check_backup", 2, "CRITICAL: last backup 30 hours ago"),
)
DEMO_SILENCE = {"subscription": "client:web-2", "check": "check_http"}


def load_demo(say) -> None:
    """
    Each part is created only if missing, so a second load adds nothing: no rows, no results
    replayed, no audit events. (`manage.py bootstrap` loads it on an empty database only.)
    """
    with audit_context():
        existing = set(Client.objects.values_list("name", flat=True))
        for name, address, subscriptions in DEMO_CLIENTS:
            if name in existing:
                continue
            # Keepalives off, as Sensu's API-registered clients default: nothing sends these
            # clients keepalives, so with them on every client would turn CRITICAL
            # ("No keepalive sent") 180 s after loading and hide the events below.
            client_register(
                data={
                    "name": name,
                    "address": address,
                    "subscriptions": subscriptions,
                    "keepalives": False,
                    "environment": "production",
                }
            )
        for definition in DEMO_CHECKS:
            CheckDefinition.objects.get_or_create(
                name=definition["name"],
                defaults={k: v for k, v in definition.items() if k != "name"},
            )
        # Replayed only for pairs with no result yet: replaying again would add history,
        # count occurrences up and audit the same state changes twice.
        replayed = set(CheckResult.objects.values_list("client__name", "check_name"))
        now = epoch_now()
        for offset, (client, check, status, output) in enumerate(DEMO_RUNS):
            if (client, check) in replayed:
                continue
            executed = now - (len(DEMO_RUNS) - offset) * 60
            result_process(
                client_name=client,
                check={"name": check, "status": status, "output": output, "executed": executed},
                now=executed,
            )
        if not Silence.objects.filter(
            silence_id=silence_key(DEMO_SILENCE["subscription"], DEMO_SILENCE["check"])
        ).exists():
            silence_create(
                **DEMO_SILENCE,
                reason="Load test in progress",
                creator="demo",
                expire=3600,
                expire_on_resolve=True,
            )
    say("Monitoring: 3 clients, 3 checks, 3 open events, 1 silence.")
