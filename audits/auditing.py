"""
Automatic auditing of the site's own models, with the audited gem's semantics:
`audited_changes` is {field: value} on create and destroy and {field: [old, new]} on update,
`version` counts per record, and an update that changes nothing audited records nothing.

A model opts in with one declaration:

    @audited(sensitive={"bind_password"})
    class LdapSource(models.Model): ...

or, for a model we do not own, `audit_register(User, exclude={"last_login"})`.
"""

import datetime
import decimal
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import REDACTED, audit_event_record

# Field-name words that mark a secret: password, api_key, token_digest, bind_password...
_SECRET_WORDS = {
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "digest",
    "passphrase",
    "credential",
    "credentials",
    "private",
}
# Bookkeeping columns that say nothing about the record's meaning (audited skips these too).
_IGNORED = {"created_at", "updated_at", "modified_at", "last_login", "last_used_at"}


def is_secret_name(name: str) -> bool:
    return any(word in _SECRET_WORDS for word in re.split(r"[^a-z0-9]+", name.lower()))


@dataclass
class AuditRegistration:
    model: type[models.Model]
    type_name: str
    exclude: set[str] = field(default_factory=set)
    sensitive: set[str] | Callable[[models.Model], set[str]] = field(default_factory=set)
    name_of: Callable[[models.Model], str] = str
    associated_of: Callable[[models.Model], AuditTarget | None] | None = None

    def tracked_fields(self) -> list[models.Field]:
        return [
            f
            for f in self.model._meta.concrete_fields
            if not f.primary_key and f.name not in self.exclude and f.name not in _IGNORED
        ]

    def secret_fields(self, instance: models.Model) -> set[str]:
        declared = self.sensitive(instance) if callable(self.sensitive) else self.sensitive
        secrets = set(declared)
        for f in self.tracked_fields():
            if is_secret_name(f.name):
                secrets.update({f.name, f.attname})
        return secrets


_registry: dict[type[models.Model], AuditRegistration] = {}


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "[binary]"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def _values(registration: AuditRegistration, instance: models.Model) -> dict[str, Any]:
    return {f.attname: f.value_from_object(instance) for f in registration.tracked_fields()}


def _redact(registration, instance, changes: dict[str, Any]) -> dict[str, Any]:
    secrets = registration.secret_fields(instance)
    redacted = {}
    for key, value in changes.items():
        if key in secrets:
            redacted[key] = [REDACTED, REDACTED] if isinstance(value, list) else REDACTED
        else:
            redacted[key] = jsonable(value)
    return redacted


def _target(registration, instance) -> AuditTarget:
    return AuditTarget(
        type=registration.type_name, id=str(instance.pk), name=str(registration.name_of(instance))
    )


def _record(registration, instance, *, action: str, crud: str, changes: dict[str, Any]):
    associated = registration.associated_of(instance) if registration.associated_of else None
    audit_event_record(
        action=action,
        crud=crud,
        source=AuditSource.SITE,
        target=_target(registration, instance),
        associated=associated,
        audited_changes=_redact(registration, instance, changes),
        assign_version=True,
    )


def _on_pre_save(sender, instance, raw=False, **kwargs):
    registration = _registry[sender]
    instance._audit_before = None
    if instance.pk is not None and not instance._state.adding:
        attnames = [f.attname for f in registration.tracked_fields()]
        instance._audit_before = (
            sender._base_manager.filter(pk=instance.pk).values(*attnames).first()
        )


def _on_post_save(sender, instance, created, raw=False, update_fields=None, **kwargs):
    registration = _registry[sender]
    after = _values(registration, instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        changes = {k: v for k, v in after.items() if v not in (None, "")}
        _record(registration, instance, action="create", crud=Crud.CREATE, changes=changes)
        return
    fields_by_attname = {f.attname: f for f in registration.tracked_fields()}
    changes = {}
    for attname, new in after.items():
        old = before.get(attname)
        try:
            comparable_new = fields_by_attname[attname].to_python(new)
        except Exception:
            comparable_new = new
        if old != comparable_new:
            changes[attname] = [old, new]
    if changes:
        _record(registration, instance, action="update", crud=Crud.UPDATE, changes=changes)


def _on_post_delete(sender, instance, **kwargs):
    registration = _registry[sender]
    changes = {k: v for k, v in _values(registration, instance).items() if v not in (None, "")}
    _record(registration, instance, action="destroy", crud=Crud.DELETE, changes=changes)


def audit_register(
    model: type[models.Model],
    *,
    type_name: str | None = None,
    exclude: Iterable[str] = (),
    sensitive: Iterable[str] | Callable[[models.Model], set[str]] = (),
    name_of: Callable[[models.Model], str] = str,
    associated_of: Callable[[models.Model], AuditTarget | None] | None = None,
) -> type[models.Model]:
    if model in _registry:
        return model
    _registry[model] = AuditRegistration(
        model=model,
        type_name=type_name or model.__name__,
        exclude=set(exclude),
        sensitive=sensitive if callable(sensitive) else set(sensitive),
        name_of=name_of,
        associated_of=associated_of,
    )
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_on_pre_save, sender=model, weak=False, dispatch_uid=uid)
    post_save.connect(_on_post_save, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(_on_post_delete, sender=model, weak=False, dispatch_uid=uid)
    return model


def audited(**options: Any) -> Callable[[type[models.Model]], type[models.Model]]:
    """Class decorator form of `audit_register`."""

    def decorate(model: type[models.Model]) -> type[models.Model]:
        return audit_register(model, **options)

    return decorate


def audited_models() -> dict[type[models.Model], AuditRegistration]:
    return dict(_registry)
