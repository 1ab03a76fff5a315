"""
Signed license files. A file is JSON or YAML:

    {"license": {<payload>}, "key_id": "<fingerprint>", "signature": "<base64 Ed25519>"}

The signature covers the payload's canonical JSON (sorted keys, no whitespace, UTF-8), so a
JSON file and its YAML rendering carry the same signature. `key_id` names the vendor key
(first 16 hex digits of SHA-256 over the raw public key); it only chooses the message when
verification fails ("tampered" vs "signed by a key this site does not trust").

The payload:

    license_id, assignee, release_channel, license_type (dev|trial|paid),
    expiration_time (RFC 3339 or null: never expires),
    expiration_policy (ignore|prevent_updates|stop),
    fields: [{field, title, type (Integer|String|Text|Boolean), value, hide_from_customer}]
"""

import base64
import binascii
import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integration_site.parsers import yaml_parse
from licensing.choices import ExpirationPolicy, FieldType, LicenseType
from licensing.validators import field_value_error

MAX_LICENSE_FILE_BYTES = 1024 * 1024
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class LicenseFileError(ValueError):
    """The file was rejected; the message says why in words an operator can act on."""


@dataclass(frozen=True)
class VerifiedLicense:
    payload: dict[str, Any]
    key_id: str
    expiration_time: datetime.datetime | None
    document: str


# --- keys -----------------------------------------------------------------------------


def public_key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_base64(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A PEM `PUBLIC KEY` block or the base64 of the raw 32-byte key."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def split_key_list(value: str) -> list[str]:
    """Entries are separated by commas or whitespace; a PEM block counts as one entry."""
    entries = []
    for pem in re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", value, re.S):
        entries.append(pem)
        value = value.replace(pem, " ")
    entries.extend(part for part in re.split(r"[,\s]+", value) if part)
    return entries


def demo_vendor_key_paths() -> tuple[Path, Path]:
    directory = Path(settings.VAR_DIR) / "demo-vendor-key"
    return directory / "private.pem", directory / "public.pem"


def vendor_public_keys() -> dict[str, Ed25519PublicKey]:
    """
    The trusted vendor keys by key id: LICENSE_VENDOR_PUBLIC_KEYS, or, when that is empty,
    the DEMO key generated into var/ by the demo data (never for production: anyone who can
    read var/ can sign licenses with it; a system check warns while it is trusted).
    """
    configured = getattr(settings, "LICENSE_VENDOR_PUBLIC_KEYS", "") or ""
    if isinstance(configured, list | tuple):
        configured = ",".join(configured)
    keys = {}
    for entry in split_key_list(configured):
        key = parse_public_key(entry)
        keys[public_key_id(key)] = key
    if not keys and getattr(settings, "LICENSE_TRUST_DEMO_VENDOR_KEY", True):
        _, public_path = demo_vendor_key_paths()
        if public_path.exists():
            key = parse_public_key(public_path.read_text())
            keys[public_key_id(key)] = key
    return keys


def generate_keypair(directory: Path) -> tuple[Path, Path]:
    """Write private.pem (mode 600) and public.pem into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    private_path, public_path = directory / "private.pem", directory / "public.pem"
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


# --- canonical form and signing ---------------------------------------------------------


def rfc3339(value: datetime.datetime) -> str:
    value = value.astimezone(datetime.UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _normalise(value: Any) -> Any:
    # YAML turns unquoted timestamps into datetimes; sign and verify their RFC 3339 text.
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return rfc3339(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def canonical_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        _normalise(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def license_document_sign(
    payload: dict[str, Any], private_key: Ed25519PrivateKey, *, fmt: str = "json"
) -> str:
    payload = _normalise(payload)
    document = {
        "license": payload,
        "key_id": public_key_id(private_key.public_key()),
        "signature": base64.b64encode(private_key.sign(canonical_bytes(payload))).decode(),
    }
    if fmt == "yaml":
        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- parsing and verification -------------------------------------------------------------


def parse_document(data: bytes | str) -> dict[str, Any]:
    if isinstance(data, bytes):
        if len(data) > MAX_LICENSE_FILE_BYTES:
            raise LicenseFileError("The license file is larger than 1 MiB; it cannot be a license.")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LicenseFileError("The license file is not UTF-8 text (JSON or YAML).") from exc
    if not data.strip():
        raise LicenseFileError("The license file is empty.")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, RecursionError):  # YAML then says what is wrong
        try:
            document = yaml_parse(data)
        except yaml.YAMLError as exc:
            raise LicenseFileError(
                f"The license file is neither valid JSON nor valid YAML: {exc}".splitlines()[0]
            ) from exc
    if not isinstance(document, dict):
        raise LicenseFileError(
            "The license file must be a mapping with 'license', 'key_id' and 'signature'."
        )
    return document


def _validate_payload(payload: Any) -> datetime.datetime | None:
    if not isinstance(payload, dict):
        raise LicenseFileError("'license' must be a mapping of license attributes.")
    problems = []
    license_id = payload.get("license_id")
    if not isinstance(license_id, str) or not license_id.strip():
        problems.append("license_id is required (a non-empty string)")
    for key in ("assignee", "release_channel"):
        if key in payload and not isinstance(payload[key], str):
            problems.append(f"{key} must be a string")
    if payload.get("license_type", LicenseType.PAID) not in LicenseType.values:
        problems.append(f"license_type must be one of {', '.join(LicenseType.values)}")
    if payload.get("expiration_policy", ExpirationPolicy.IGNORE) not in ExpirationPolicy.values:
        problems.append(f"expiration_policy must be one of {', '.join(ExpirationPolicy.values)}")
    expiration = None
    raw_expiration = payload.get("expiration_time")
    if raw_expiration not in (None, ""):
        expiration = parse_datetime(raw_expiration) if isinstance(raw_expiration, str) else None
        if expiration is None:
            problems.append("expiration_time must be an RFC 3339 timestamp or null")
        elif timezone.is_naive(expiration):
            expiration = timezone.make_aware(expiration, datetime.UTC)
    fields = payload.get("fields", [])
    if not isinstance(fields, list):
        problems.append("fields must be a list")
        fields = []
    seen = set()
    for index, item in enumerate(fields):
        where = f"fields[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a mapping")
            continue
        name = item.get("field")
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            problems.append(f"{where}.field must be a name of letters, digits, '_', '.' or '-'")
        elif name in seen:
            problems.append(f"{where}.field {name!r} appears twice")
        seen.add(name)
        problem = field_value_error(item.get("type", FieldType.STRING), item.get("value"))
        if problem:
            problems.append(f"{where} ({name}): {problem}")
        if not isinstance(item.get("hide_from_customer", False), bool):
            problems.append(f"{where}.hide_from_customer must be true or false")
    if problems:
        raise LicenseFileError("The license is malformed: " + "; ".join(problems) + ".")
    return expiration


def license_document_verify(data: bytes | str, *, now=None) -> VerifiedLicense:
    """Parse and verify a signed license file, or raise LicenseFileError saying why not."""
    document = parse_document(data)
    if "license" not in document:
        raise LicenseFileError("The license file has no 'license' section.")
    signature_text = document.get("signature")
    if not signature_text:
        raise LicenseFileError(
            "The license file is unsigned (no 'signature'). Ask the vendor for a signed license."
        )
    try:
        signature = base64.b64decode(str(signature_text), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LicenseFileError("The license signature is not valid base64.") from exc
    payload = document["license"]
    if not isinstance(payload, dict):
        raise LicenseFileError("'license' must be a mapping of license attributes.")

    keys = vendor_public_keys()
    if not keys:
        raise LicenseFileError(
            "No vendor public key is configured (LICENSE_VENDOR_PUBLIC_KEYS), so no license "
            "can be verified."
        )
    key_id = str(document.get("key_id") or "")
    message = canonical_bytes(payload)
    candidates = [keys[key_id]] if key_id in keys else list(keys.values())
    verified_by = None
    for key in candidates:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        verified_by = public_key_id(key)
        break
    if verified_by is None:
        if key_id and key_id not in keys:
            raise LicenseFileError(
                f"The license was signed by a key this site does not trust (key id {key_id}). "
                "Check LICENSE_VENDOR_PUBLIC_KEYS or ask the vendor for a license signed with "
                "their current key."
            )
        raise LicenseFileError(
            "The license signature does not match its contents: the file has been altered "
            "(tampered) or signed by another key."
        )

    payload = _normalise(payload)
    expiration = _validate_payload(payload)
    now = now or timezone.now()
    if expiration is not None and expiration <= now:
        raise LicenseFileError(f"The license expired at {rfc3339(expiration)}.")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return VerifiedLicense(
        payload=payload, key_id=verified_by, expiration_time=expiration, document=text
    )
