"""Demo data: a few clients, check definitions, handlers, open events and a silence."""

import shlex
import shutil

from django.conf import settings

from audits.context import audit_context
from monitoring.definitions import definition_save
from monitoring.engine import result_process
from monitoring.models import (
    HISTORY_LENGTH,
    CheckDefinition,
    CheckResult,
    Client,
    Handler,
    Silence,
    epoch_now,
    silence_key,
)
from monitoring.services import client_register, silence_create

DEMO_CLIENTS = (
    ("web-1", "10.0.0.11", ["webserver", "production"]),
    ("web-2", "10.0.0.12", ["webserver", "production"]),
    ("db-1", "10.0.0.21", ["database", "production"]),
    ("queue-1", "10.0.0.31", ["queue", "production"]),
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
    {
        "name": "check_queue_depth",
        "command": "check-rabbitmq-queue.rb -w 500 -c 1000",
        "subscribers": ["queue"],
        "interval": 60,
        "low_flap_threshold": 20,
        "high_flap_threshold": 50,
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
# A failing check that flaps: queue-1's queue depth alternates OK and WARNING over the full
# 21-result history, so its total state change passes the high threshold and the engine
# marks the event `flapping` (Sensu's check_flapping?). It ends on WARNING: not a critical,
# so the demo's file handler is not told (it takes critical events only).
DEMO_FLAPPING = ("queue-1", "check_queue_depth")
DEMO_FLAPPING_RUNS = tuple(
    (1, f"QUEUE WARNING: {600 + 10 * n} messages ready") if n % 2 == 0 else (0, "QUEUE OK: 12")
    for n in range(HISTORY_LENGTH)
)
DEMO_SILENCE = {"subscription": "client:web-2", "check": "check_http"}
NOTIFICATIONS_LOG_NAME = "notifications.log"


def demo_handlers() -> dict[str, dict]:
    """
    The demo's handlers in Sensu's JSON form. Every demo check reaches `default` (check_http
    names it, the others name no handler), a set holding `notify-file`: critical events,
    once per `occurrences` refresh, appended to var/notifications.log. The webhook is named
    by no check and no set, so it never runs: it shows the http type's fields.
    """
    log = settings.VAR_DIR / NOTIFICATIONS_LOG_NAME
    # An absolute command: handlers run with a clean environment, and without a shell.
    tee = shutil.which("tee") or "/usr/bin/tee"
    return {
        "notify-file": {
            "type": "pipe",
            "command": f"{shlex.quote(tee)} -a {shlex.quote(str(log))}",
            "severities": ["critical"],
            "filters": ["occurrences"],
            "timeout": 10,
        },
        "default": {"type": "set", "handlers": ["notify-file"]},
        "webhook-example": {
            "type": "http",
            "http": {
                "url": "http://127.0.0.1:9/sensu-events",
                "headers": {"Authorization": "Bearer demo-webhook-token"},
                "retries": 3,
            },
            "description": (
                "An example webhook, not attached to any check or set, so it never runs: name "
                "it in a check's handlers (or in the default set) once a receiver listens."
            ),
        },
    }


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
        # Before the results: the engine queues events for handling only when one of the
        # check's handlers exists.
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        defined = set(Handler.objects.values_list("name", flat=True))
        for name, definition in demo_handlers().items():
            if name not in defined:
                definition_save(category="handlers", name=name, data=definition)
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
        if DEMO_FLAPPING not in replayed:
            client, check = DEMO_FLAPPING
            for offset, (status, output) in enumerate(DEMO_FLAPPING_RUNS):
                executed = now - (len(DEMO_FLAPPING_RUNS) - offset) * 60
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
    say(
        "Monitoring: 4 clients, 4 checks, 4 open events (one flapping), 1 silence, 3 handlers "
        f"(the worker appends critical events to var/{NOTIFICATIONS_LOG_NAME})."
    )
