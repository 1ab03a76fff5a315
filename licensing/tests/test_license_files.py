import base64
import json
from datetime import timedelta

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.utils import timezone

from audits.models import AuditEvent
from licensing.license_files import LicenseFileError, license_document_verify
from licensing.models import License
from licensing.services.license import license_install

pytestmark = pytest.mark.django_db


def test_signed_json_license_verifies(sign, license_payload):
    verified = license_document_verify(sign(license_payload))
    assert verified.payload["license_id"] == license_payload["license_id"]


def test_signed_yaml_license_verifies_and_installs(sign, license_payload):
    document = sign(license_payload, fmt="yaml")
    assert yaml.safe_load(document)["license"]["license_id"] == license_payload["license_id"]
    license = license_install(data=document.encode())
    assert license.fields.get(field="max_hosts").value == 1


def test_yaml_file_with_unquoted_timestamp_still_verifies(sign, license_payload):
    signed = json.loads(sign(license_payload))
    # Hand-edited YAML often loses the quotes; YAML then parses a datetime.
    text = yaml.safe_dump(signed).replace("'2099-01-01T00:00:00Z'", "2099-01-01T00:00:00Z")
    assert "'2099" not in text
    license_document_verify(text)


def test_tampered_license_is_rejected(sign, license_payload):
    document = json.loads(sign(license_payload))
    document["license"]["fields"][0]["value"] = 1000
    with pytest.raises(LicenseFileError, match="tampered"):
        license_document_verify(json.dumps(document))


def test_unsigned_license_is_rejected(license_payload, vendor_key):
    with pytest.raises(LicenseFileError, match="unsigned"):
        license_document_verify(json.dumps({"license": license_payload}))


def test_license_signed_by_another_key_is_rejected(sign, license_payload):
    other = Ed25519PrivateKey.generate()
    with pytest.raises(LicenseFileError, match="does not trust"):
        license_document_verify(sign(license_payload, key=other))


def test_other_key_posing_as_the_vendor_key_id_is_rejected(sign, license_payload, vendor_key):
    genuine = json.loads(sign(license_payload))
    forged = json.loads(sign(license_payload, key=Ed25519PrivateKey.generate()))
    forged["key_id"] = genuine["key_id"]
    with pytest.raises(LicenseFileError, match=r"altered|another key"):
        license_document_verify(json.dumps(forged))


def test_expired_license_is_rejected(sign, license_payload):
    license_payload["expiration_time"] = "2020-01-01T00:00:00Z"
    with pytest.raises(LicenseFileError, match="expired at 2020-01-01T00:00:00Z"):
        license_document_verify(sign(license_payload))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"{not json: [", "neither valid JSON nor valid YAML"),
        (b"- a\n- list\n", "must be a mapping"),
        (b'{"signature": "abc"}', "no 'license' section"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"license": {"license_id": "x"}, "signature": "!!!"}', "not valid base64"),
    ],
)
def test_malformed_files_are_rejected_with_a_clear_message(vendor_key, data, message):
    with pytest.raises(LicenseFileError, match=message):
        license_document_verify(data)


@pytest.mark.parametrize(
    "field, message",
    [
        ({"field": "n", "type": "Integer", "value": "99"}, "whole number"),
        ({"field": "n", "type": "Integer", "value": True}, "whole number"),
        ({"field": "n", "type": "Boolean", "value": "yes"}, "true or false"),
        ({"field": "n", "type": "String", "value": 5}, "needs a string"),
        ({"field": "n", "type": "Float", "value": 1.5}, "Unknown field type"),
        ({"field": "bad name!", "type": "String", "value": "x"}, "field must be a name"),
    ],
)
def test_field_values_of_the_wrong_type_are_rejected(sign, license_payload, field, message):
    license_payload["fields"] = [field]
    with pytest.raises(LicenseFileError, match=message):
        license_document_verify(sign(license_payload))


def test_signed_license_missing_license_id_is_malformed(sign, license_payload):
    del license_payload["license_id"]
    with pytest.raises(LicenseFileError, match="malformed: license_id is required"):
        license_document_verify(sign(license_payload))


def test_rejected_file_keeps_running_license_and_is_audited(
    installed_license, sign, license_payload
):
    license_payload["expiration_time"] = "2001-01-01T00:00:00Z"
    license_payload["assignee"] = "Someone Else"
    with pytest.raises(LicenseFileError):
        license_install(data=sign(license_payload))
    running = License.objects.get()
    assert running.assignee == "Replicated, Inc"
    assert running.fields.count() == 5
    rejection = AuditEvent.objects.filter(action="license.reject").get()
    assert rejection.is_failure and "expired" in rejection.description


def test_replacing_a_license_is_audited_with_a_field_level_diff(
    installed_license, sign, license_payload
):
    license_payload["assignee"] = "New Owner"
    license_payload["fields"][0]["value"] = 50  # max_hosts
    del license_payload["fields"][1]  # min_hosts removed
    license_payload["fields"].append({"field": "seats", "type": "Integer", "value": 9})
    license_install(data=sign(license_payload))
    assert License.objects.count() == 1
    event = AuditEvent.objects.filter(action="license.replace").get()
    changes = event.audited_changes
    assert changes["assignee"] == ["Replicated, Inc", "New Owner"]
    assert changes["fields.max_hosts"] == [1, 50]
    assert changes["fields.min_hosts"] == [1, None]
    assert changes["fields.seats"] == [None, 9]
    assert "fields.account" not in changes
    # The license keeps its id and the fields are updated in place.
    assert License.objects.get().pk == installed_license.pk


def test_license_sign_and_install_commands_round_trip(
    tmp_path, vendor_key, license_payload, settings
):
    from cryptography.hazmat.primitives import serialization

    key_file = tmp_path / "vendor.pem"
    key_file.write_bytes(
        vendor_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    payload_file = tmp_path / "license.yaml"
    payload_file.write_text(yaml.safe_dump(license_payload))
    signed_file = tmp_path / "signed.yaml"
    call_command(
        "license_sign",
        str(payload_file),
        "--key",
        str(key_file),
        "--format",
        "yaml",
        "--output",
        str(signed_file),
    )
    call_command("license_install", str(signed_file))
    assert License.objects.get().license_id == license_payload["license_id"]


def test_license_install_command_reports_rejection(tmp_path, vendor_key, license_payload):
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({"license": license_payload}))
    with pytest.raises(CommandError, match=r"unsigned.*running license is unchanged"):
        call_command("license_install", str(unsigned))


def test_generate_key_prints_the_setting_value(tmp_path, capsys):
    call_command("license_sign", "--generate-key", str(tmp_path / "keys"))
    out = capsys.readouterr().out
    assert "LICENSE_VENDOR_PUBLIC_KEYS=" in out
    value = out.split("LICENSE_VENDOR_PUBLIC_KEYS=")[1].strip()
    assert len(base64.b64decode(value)) == 32


def test_pem_public_keys_are_accepted(settings, license_payload):
    from cryptography.hazmat.primitives import serialization

    from licensing.license_files import license_document_sign

    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pems = [
        k.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
        for k in (first, second)
    ]
    settings.LICENSE_VENDOR_PUBLIC_KEYS = ",".join(pems)
    # Key rotation: a license signed by either configured key verifies.
    license_document_verify(license_document_sign(license_payload, second))
    license_document_verify(license_document_sign(license_payload, first))


def test_license_that_never_expires_installs_with_no_expiration(sign, license_payload):
    license_payload["expiration_time"] = None
    license = license_install(data=sign(license_payload))
    assert license.expiration_time is None
    assert not license.is_expired(now=timezone.now() + timedelta(days=10_000))


BILLION_LAUGHS = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
license: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
key_id: x
signature: y
"""


def test_yaml_aliases_are_refused_before_anything_expands_them():
    # Nine levels of these expand to 9**9 strings once serialised; three are enough to show
    # that none is accepted.
    with pytest.raises(LicenseFileError, match="aliases"):
        license_install(data=BILLION_LAUGHS.encode())
    assert not License.objects.exists()


def test_yaml_nested_past_the_parsers_recursion_is_a_clear_error():
    with pytest.raises(LicenseFileError, match="nested too deeply"):
        license_install(data=("[" * 20000).encode())
