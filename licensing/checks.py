from django.conf import settings
from django.core.checks import Error, Warning, register

from licensing.license_files import (
    demo_vendor_key_paths,
    parse_public_key,
    split_key_list,
    vendor_public_keys,
)


@register()
def vendor_key_check(app_configs, **kwargs):
    configured = settings.LICENSE_VENDOR_PUBLIC_KEYS
    for entry in split_key_list(configured):
        try:
            parse_public_key(entry)
        except ValueError as exc:
            return [
                Error(
                    f"LICENSE_VENDOR_PUBLIC_KEYS holds an unusable key: {exc}",
                    hint="Give base64 raw Ed25519 public keys or PEM PUBLIC KEY blocks.",
                    id="licensing.E001",
                )
            ]
    if not configured and vendor_public_keys():
        return [
            Warning(
                "Licenses are verified with the DEMO vendor key in "
                f"{demo_vendor_key_paths()[1]}. Anyone who can read var/ can sign licenses.",
                hint="Set LICENSE_VENDOR_PUBLIC_KEYS to the vendor's real public key(s).",
                id="licensing.W001",
            )
        ]
    return []
