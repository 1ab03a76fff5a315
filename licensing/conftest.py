"""
Fixtures for every licensing test (licensing/tests/ and licensing/services/tests/): a vendor
keypair trusted by the site, signed licenses, and releases with a current one installed.
"""

import copy
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from licensing.license_files import license_document_sign, public_key_base64
from licensing.models import Installation, License, Release
from licensing.services.license import license_install

BASE_LICENSE = {
    "license_id": "f49b290abf39b945c6f519ee6ca1c4ad",
    "assignee": "Replicated, Inc",
    "release_channel": "Unstable",
    "license_type": "paid",
    "expiration_time": "2099-01-01T00:00:00Z",
    "expiration_policy": "prevent_updates",
    "fields": [
        {"field": "max_hosts", "title": "Maximum Number of Hosts", "type": "Integer", "value": 1},
        {"field": "min_hosts", "title": "Minimum Number of Hosts", "type": "Integer", "value": 1},
        {"field": "account", "title": "Account Name", "type": "String", "value": "Replicated, Inc"},
        {
            "field": "secret_tier",
            "title": "Internal tier",
            "type": "Text",
            "value": "gold\nplatinum-ready\n",
            "hide_from_customer": True,
        },
        {"field": "sso", "title": "Single sign-on", "type": "Boolean", "value": True},
    ],
}


@pytest.fixture
def license_payload():
    return copy.deepcopy(BASE_LICENSE)


@pytest.fixture
def vendor_key(settings) -> Ed25519PrivateKey:
    """A fresh vendor key; the site trusts only its public half."""
    key = Ed25519PrivateKey.generate()
    settings.LICENSE_VENDOR_PUBLIC_KEYS = public_key_base64(key.public_key())
    settings.LICENSE_TRUST_DEMO_VENDOR_KEY = False
    return key


@pytest.fixture
def sign(vendor_key):
    def make(payload, *, key=None, fmt="json") -> str:
        return license_document_sign(payload, key or vendor_key, fmt=fmt)

    return make


@pytest.fixture
def installed_license(db, sign, license_payload) -> License:
    return license_install(data=sign(license_payload))


@pytest.fixture
def releases(db):
    """Sequences 10 (current), 11 optional, 12 required, 13 optional, 14 on another channel."""
    now = timezone.now()
    made = {}
    for seq, required, channel in [
        (10, True, "Unstable"),
        (11, False, "Unstable"),
        (12, True, "Unstable"),
        (13, False, "Unstable"),
        (14, True, "Stable"),
    ]:
        made[seq] = Release.objects.create(
            sequence=seq,
            version=f"1.{seq}.0",
            release_notes=f"Notes for {seq}",
            release_date=now - timedelta(days=20 - seq),
            required=required,
            channel=channel,
        )
    Installation.objects.update_or_create(
        pk=1, defaults={"current_release": made[10], "install_date": now - timedelta(days=5)}
    )
    return made
