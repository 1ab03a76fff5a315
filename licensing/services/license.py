"""Installing a signed license: verify it, replace the running one in place, audit the change."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from audits.auditing import jsonable
from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from licensing.choices import FieldType
from licensing.license_files import LicenseFileError, VerifiedLicense, license_document_verify
from licensing.models import License, LicenseField


def _license_snapshot(license: License | None) -> dict[str, Any]:
    if license is None:
        return {}
    snapshot: dict[str, Any] = {
        key: jsonable(getattr(license, key))
        for key in (
            "license_id",
            "assignee",
            "release_channel",
            "license_type",
            "expiration_time",
            "expiration_policy",
            "signing_key_id",
        )
    }
    for field in license.fields.all():
        snapshot[f"fields.{field.field}"] = field.value
        snapshot[f"fields.{field.field}.type"] = field.type
        snapshot[f"fields.{field.field}.hide_from_customer"] = field.hide_from_customer
    return snapshot


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


@transaction.atomic
def license_install_verified(*, verified: VerifiedLicense, source: str = "file") -> License:
    """Install an already verified license, replacing the running one in place."""
    payload = verified.payload
    current = License.objects.select_for_update().order_by("-installed_at", "-pk").first()
    before = _license_snapshot(current)
    license = current or License()
    license.license_id = payload["license_id"].strip()
    license.assignee = payload.get("assignee", "") or ""
    license.release_channel = payload.get("release_channel") or "Stable"
    license.license_type = payload.get("license_type") or "paid"
    license.expiration_time = verified.expiration_time
    license.expiration_policy = payload.get("expiration_policy") or "ignore"
    license.signing_key_id = verified.key_id
    license.signed_document = verified.document
    license.installed_at = timezone.now()
    license.save()

    wanted = {item["field"]: (index, item) for index, item in enumerate(payload.get("fields", []))}
    for existing in license.fields.all():
        if existing.field not in wanted:
            existing.delete()
    existing_by_name = {f.field: f for f in license.fields.all()}
    for name, (index, item) in wanted.items():
        field = existing_by_name.get(name) or LicenseField(license=license, field=name)
        field.title = item.get("title", "") or ""
        field.type = item.get("type", FieldType.STRING)
        field.value = item.get("value")
        field.hide_from_customer = bool(item.get("hide_from_customer", False))
        field.position = index
        field.full_clean()
        field.save()

    changes = _diff(before, _license_snapshot(license))
    audit_event_record(
        action="license.replace" if current else "license.install",
        crud=Crud.UPDATE if current else Crud.CREATE,
        source=AuditSource.SITE,
        target=AuditTarget(type="License", id=str(license.pk), name=license.license_id),
        description=(
            f"License {license.license_id} installed from a signed {source} "
            f"(vendor key {verified.key_id}); {len(changes)} attribute(s) changed."
        ),
        audited_changes=changes,
    )
    return license


def license_install(*, data: bytes | str, source: str = "file") -> License:
    """
    Verify a signed license file and install it. On any problem raise LicenseFileError and
    leave the running license untouched; the rejection itself is audited.
    """
    try:
        verified = license_document_verify(data)
    except LicenseFileError as exc:
        audit_event_record(
            action="license.reject",
            crud=Crud.UPDATE,
            source=AuditSource.SITE,
            target=AuditTarget(type="License"),
            description=f"License file rejected: {exc}",
            is_failure=True,
        )
        raise
    return license_install_verified(verified=verified, source=source)
