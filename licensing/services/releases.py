"""Importing releases from a JSON or YAML manifest, all or nothing."""

import json
import shlex
from datetime import UTC, datetime
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integration_site.parsers import yaml_parse
from licensing.models import Release


class ManifestError(ValueError):
    pass


def _manifest_items(data: bytes | str) -> tuple[list[dict[str, Any]], str]:
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, RecursionError):  # YAML then says what is wrong
        try:
            document = yaml_parse(data)
        except yaml.YAMLError as exc:
            raise ManifestError(f"The manifest is neither JSON nor YAML: {exc}") from exc
    channel = "Stable"
    if isinstance(document, dict):
        channel = str(document.get("channel") or channel)
        document = document.get("releases")
    if not isinstance(document, list) or not document:
        raise ManifestError("The manifest needs a non-empty 'releases' list.")
    return document, channel


def _manifest_release(item: Any, index: int, channel: str) -> dict[str, Any]:
    where = f"releases[{index}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be a mapping.")
    sequence = item.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ManifestError(f"{where}.sequence must be a positive whole number.")
    version = item.get("version")
    if not isinstance(version, str | int | float) or not str(version).strip():
        raise ManifestError(f"{where}.version is required.")
    # Absent: "now" for a new release, unchanged for an existing one (re-imports are no-ops).
    release_date = item.get("release_date")
    if isinstance(release_date, str):
        parsed = parse_datetime(release_date)
        if parsed is None:
            raise ManifestError(f"{where}.release_date must be an RFC 3339 timestamp.")
        release_date = parsed
    if release_date is not None and not isinstance(release_date, datetime):
        raise ManifestError(f"{where}.release_date must be an RFC 3339 timestamp.")
    if release_date is not None and timezone.is_naive(release_date):
        release_date = timezone.make_aware(release_date, UTC)
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise ManifestError(f"{where}.required must be true or false.")
    hook = item.get("hook") or {}
    if isinstance(hook, str | list):
        hook = {"command": hook}
    if not isinstance(hook, dict):
        raise ManifestError(f"{where}.hook must be a command or {{command, timeout_seconds}}.")
    command = hook.get("command", "")
    if isinstance(command, list):
        command = shlex.join(str(part) for part in command)
    timeout = hook.get("timeout_seconds", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ManifestError(f"{where}.hook.timeout_seconds must be a positive whole number.")
    return {
        "sequence": sequence,
        "version": str(version).strip(),
        "release_notes": str(item.get("release_notes", "") or ""),
        "release_date": release_date,
        "required": required,
        "channel": str(item.get("channel") or channel),
        "hook_command": str(command or ""),
        "hook_timeout_seconds": timeout,
    }


@transaction.atomic
def releases_import(*, data: bytes | str) -> tuple[int, int]:
    """Create or update releases from a manifest, all or nothing. Returns (created, updated)."""
    items, channel = _manifest_items(data)
    releases = [_manifest_release(item, i, channel) for i, item in enumerate(items)]
    sequences = [r["sequence"] for r in releases]
    if len(set(sequences)) != len(sequences):
        raise ManifestError("The manifest lists a sequence more than once.")
    created = updated = 0
    for values in releases:
        sequence = values.pop("sequence")
        release = Release.objects.filter(sequence=sequence).first()
        if values["release_date"] is None:
            values["release_date"] = release.release_date if release else timezone.now()
        if release is None:
            Release.objects.create(sequence=sequence, **values)
            created += 1
            continue
        changed = False
        for key, value in values.items():
            if getattr(release, key) != value:
                setattr(release, key, value)
                changed = True
        if changed:
            release.save()
            updated += 1
    return created, updated
