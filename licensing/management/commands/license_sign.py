from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from integration_site.parsers import yaml_parse
from licensing.license_files import (
    demo_vendor_key_paths,
    generate_keypair,
    license_document_sign,
    load_private_key,
    public_key_base64,
)


class Command(BaseCommand):
    help = (
        "For vendors and tests: sign a license payload (JSON or YAML) with an Ed25519 private "
        "key, or generate a keypair with --generate-key DIR. The output is a license file for "
        "the admin upload or `manage.py license_install`."
    )

    def add_arguments(self, parser):
        parser.add_argument("payload", nargs="?", help="Unsigned license (JSON or YAML file).")
        parser.add_argument("--key", help="Ed25519 private key (PEM, PKCS8, unencrypted).")
        parser.add_argument(
            "--demo-key",
            action="store_true",
            help="Sign with the DEMO key in var/demo-vendor-key/ (demos and tests only).",
        )
        parser.add_argument("--output", "-o", help="Write here instead of stdout.")
        parser.add_argument("--format", choices=["json", "yaml"], default="json")
        parser.add_argument("--generate-key", metavar="DIR", help="Write a new keypair to DIR.")

    def handle(self, *args, payload, key, demo_key, output, format, generate_key, **options):
        if generate_key:
            private_path, public_path = generate_keypair(Path(generate_key))
            public = load_private_key(private_path.read_bytes()).public_key()
            self.stdout.write(f"Private key: {private_path} (keep it secret; vendors only)")
            self.stdout.write(f"Public key:  {public_path}")
            self.stdout.write(f"LICENSE_VENDOR_PUBLIC_KEYS={public_key_base64(public)}")
            return
        if not payload:
            raise CommandError("Give the unsigned license file to sign (or --generate-key DIR).")
        if demo_key:
            key_path = demo_vendor_key_paths()[0]
            if not key_path.exists():
                generate_keypair(key_path.parent)
        elif key:
            key_path = Path(key)
        else:
            raise CommandError("Give --key PRIVATE.pem (or --demo-key for demos and tests).")
        try:
            private = load_private_key(key_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the private key {key_path}: {exc}") from exc
        try:
            document = yaml_parse(Path(payload).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise CommandError(f"Cannot read {payload}: {exc}") from exc
        if isinstance(document, dict) and isinstance(document.get("license"), dict):
            document = document["license"]
        if not isinstance(document, dict):
            raise CommandError("The payload must be a mapping of license attributes.")
        signed = license_document_sign(document, private, fmt=format)
        if output:
            Path(output).write_text(signed)
            self.stdout.write(f"Signed license written to {output}")
        else:
            self.stdout.write(signed, ending="")
