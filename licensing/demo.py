"""
Demo data: a signed license, a few options, releases with one pending (installable from the
Updates page), and a finished job.
"""

import json
from datetime import timedelta

from django.utils import timezone

from licensing.license_files import (
    LicenseFileError,
    demo_vendor_key_paths,
    generate_keypair,
    license_document_sign,
    load_private_key,
)
from licensing.models import ConsoleOption, Installation, Release
from licensing.services.license import license_install
from licensing.services.options import console_option_set
from licensing.services.releases import releases_import
from licensing.services.updates import update_apply_request
from licensing.update_jobs import update_job_execute

DEMO_LICENSE = {
    "license_id": "f49b290abf39b945c6f519ee6ca1c4ad",
    "assignee": "Example Corp (demo)",
    "release_channel": "Stable",
    "license_type": "trial",
    "expiration_time": None,
    "expiration_policy": "prevent_updates",
    "fields": [
        {"field": "max_hosts", "title": "Maximum Number of Hosts", "type": "Integer", "value": 25},
        {"field": "account", "title": "Account Name", "type": "String", "value": "Example Corp"},
        {"field": "sso_enabled", "title": "Single sign-on", "type": "Boolean", "value": True},
        {
            "field": "support_contract",
            "title": "Support contract",
            "type": "Text",
            "value": "tier: gold\nrenewal: yearly\n",
            "hide_from_customer": True,
        },
    ],
}


# The pending demo update, installed from the Updates page on a fresh `make run`. Its hook
# prints three lines into the job's log and exits 0 after two seconds (echo and sleep only;
# it writes nothing), so the job is seen running and the log shows a hook's output.
DEMO_PENDING_NOTES = (
    "New dashboard panels.\n"
    "- Audit events per hour and per day, by source.\n"
    "- Monitoring: open events by severity."
)
DEMO_PENDING_HOOK = [
    "sh",
    "-c",
    "echo Checking the demo schema; sleep 1; echo Warming caches; sleep 1; echo Done.",
]


def demo_license_document() -> str:
    """The demo license signed with the DEMO vendor key (generated into var/ if missing)."""
    private_path, _ = demo_vendor_key_paths()
    if not private_path.exists():
        generate_keypair(private_path.parent)
    payload = {**DEMO_LICENSE, "expiration_time": None}
    return license_document_sign(payload, load_private_key(private_path.read_bytes()))


def load_licensing_demo(say) -> None:
    now = timezone.now()
    try:
        license_install(data=demo_license_document(), source="demo file")
        say("  demo license installed (signed with the DEMO vendor key in var/demo-vendor-key/)")
    except LicenseFileError as exc:
        say(f"  demo license skipped: {exc}")

    for name, value in {"hostname": "console.example.com", "http.proxy.enabled": "false"}.items():
        option = ConsoleOption.objects.filter(name=name).first()
        if option is not None:
            console_option_set(option=option, value=value)

    releases_import(
        data=json.dumps(
            {
                "channel": "Stable",
                "releases": [
                    {
                        "sequence": seq,
                        "version": version,
                        "required": required,
                        "release_date": (now - timedelta(days=days)).isoformat(),
                        "release_notes": notes,
                        **({"hook": {"command": hook, "timeout_seconds": 30}} if hook else {}),
                    }
                    for seq, version, required, days, notes, hook in [
                        (100, "2.0.0", True, 60, "First 2.x release.", None),
                        (101, "2.1.0", False, 30, "Faster search.", None),
                        (102, "2.2.0", True, 10, "Database migration for audit partitions.", None),
                        (103, "2.3.0", False, 2, DEMO_PENDING_NOTES, DEMO_PENDING_HOOK),
                    ]
                ],
            }
        )
    )
    installation, _ = Installation.objects.get_or_create(pk=1)
    installation.current_release = Release.objects.get(sequence=100)
    installation.install_date = now - timedelta(days=59)
    installation.save()
    job = update_apply_request(sequence=102)
    update_job_execute(job_id=job.pk)
    say(f"  releases 2.0.0-2.3.0 registered; updated 2.0.0 -> 2.2.0 (job #{job.pk}); 2.3.0 pending")
