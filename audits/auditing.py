"""
Automatic auditing of the site's own models, with the audited gem's semantics:
`audited_changes` is {field: value} on create and destroy and {field: [old, new]} on update,
`version` counts per record, and an update that changes nothing audited records nothing.

A model opts in with one declaration:

    @audited(sensitive={"bind_password"})
    class LdapSource(models.Model): ...

A field that is not secret as a whole but may hold secrets (a JSON object of free-form
attributes) names a function returning the value as the trail may record it:

    @audited(redact_within={"attributes": attributes_without_secrets})

or, for a model we do not own, `audit_register(User, exclude={"last_login"})`.

The declaration also makes the model's save() atomic, so a row never commits without its
event. QuerySet.update(), bulk_create() and bulk_update() send no signals: they bypass
auditing, and code changing audited models must save() (or record the event itself).
"""

import datetime
import decimal
import functools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from audits.context import AuditTarget
from audits.models import AuditEvent, AuditSource, Crud
from audits.services import REDACTED, audit_event_record

# Field-name words that mark a secret, matched as whole words of the name (snake_case,
# kebab-case and camelCase are split): bind_password, root_pass, client_secret, accessToken...
# `pass` and `key` only as whole words, because as parts of a word they are mostly something
# else: bypass, compass, passive, passenger; monkey, hockey.
_SECRET_WORDS = {
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "tokens",
    "key",
    "keys",
    "digest",
    "credential",
    "credentials",
    "private",
}
# Secrets spelt as one word (apikey, authtoken, rootpassword, clientsecret): a word ending in
# one of these is a secret too.
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "credential",
    "credentials",
)
# A last word that makes the name describe a secret rather than hold one: signing_key_id (a
# public key's id), password_format (how passwords are stored), password_changed_at. Seeing
# these change is what an auditor wants; a foreign key's `_id` column is covered through
# its field name instead.
_SECRET_METADATA_WORDS = {"id", "format", "type", "at"}
# Bookkeeping columns that say nothing about the record's meaning (audited skips these too).
_IGNORED = {"created_at", "updated_at", "modified_at", "last_login", "last_used_at"}


def _name_words(name: str) -> list[str]:
    # accessToken -> access token, APIKey -> api key, grub_pass -> grub pass.
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_secret_name(name: str) -> bool:
    words = _name_words(name)
    if not words or words[-1] in _SECRET_METADATA_WORDS:
        return False
    return any(word in _SECRET_WORDS or word.endswith(_SECRET_SUFFIXES) for word in words)


@dataclass
class AuditRegistration:
    model: type[models.Model]
    type_name: str
    exclude: set[str] = field(default_factory=set)
    sensitive: set[str] | Callable[[models.Model], set[str]] = field(default_factory=set)
    name_of: Callable[[models.Model], str] = str
    associated_of: Callable[[models.Model], AuditTarget | None] | None = None
    # Field (name or attname) -> function(value) -> value to record, for fields whose value
    # may contain secrets. Applied after changes are found on the real values, so a change
    # to a secret alone is still an update (recorded with both sides redacted).
    redact_within: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

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

    def value_redactors(self) -> dict[str, Callable[[Any], Any]]:
        """`redact_within` keyed by attname, as the recorded changes are."""
        redactors = {}
        for f in self.tracked_fields():
            redactor = self.redact_within.get(f.name) or self.redact_within.get(f.attname)
            if redactor is not None:
                redactors[f.attname] = redactor
        return redactors


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


def _redact(registration, instance, changes: dict[str, Any], *, update: bool) -> dict[str, Any]:
    """`changes` as recorded: {field: value}, or {field: [old, new]} when `update`."""
    secrets = registration.secret_fields(instance)
    redactors = registration.value_redactors()
    redacted = {}
    for key, value in changes.items():
        if key in secrets:
            redacted[key] = [REDACTED, REDACTED] if update else REDACTED
        elif key in redactors:
            redactor = redactors[key]
            redacted[key] = jsonable([redactor(v) for v in value] if update else redactor(value))
        else:
            redacted[key] = jsonable(value)
    return redacted


# A model's label can outgrow the trail's column (a silence's id joins two 255-character
# names): the trail keeps its start rather than refusing the save that it audits.
_TARGET_NAME_MAX = AuditEvent._meta.get_field("target_name").max_length


def _target(registration, instance) -> AuditTarget:
    name = str(registration.name_of(instance))[:_TARGET_NAME_MAX]
    return AuditTarget(type=registration.type_name, id=str(instance.pk), name=name)


def _record(registration, instance, *, action: str, crud: str, changes: dict[str, Any]):
    associated = registration.associated_of(instance) if registration.associated_of else None
    audit_event_record(
        action=action,
        crud=crud,
        source=AuditSource.SITE,
        target=_target(registration, instance),
        associated=associated,
        audited_changes=_redact(registration, instance, changes, update=crud == Crud.UPDATE),
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


def _atomic_save(save: Callable[..., None]) -> Callable[..., None]:
    """
    `save` with its audit event in one transaction. Django sends post_save after save_base
    has left its transaction, so in autocommit (views without ATOMIC_REQUESTS, commands,
    tasks) the row would commit on its own and a failed audit write would leave a change
    without its event. savepoint=False, as save_base uses for multi-table saves: inside a
    caller's transaction it adds no round trips, and a failure marks that transaction for
    rollback just as a failed row write already did. delete() needs no wrapper: the
    deletion collector (Model.delete and QuerySet.delete) sends post_delete inside its own
    atomic block (test_auditing pins this).
    """

    @functools.wraps(save)
    def atomic_save(self: models.Model, *args: Any, **kwargs: Any) -> None:
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            return save(self, *args, **kwargs)

    atomic_save._audit_atomic = True  # type: ignore[attr-defined]
    return atomic_save


def audit_register(
    model: type[models.Model],
    *,
    type_name: str | None = None,
    exclude: Iterable[str] = (),
    sensitive: Iterable[str] | Callable[[models.Model], set[str]] = (),
    name_of: Callable[[models.Model], str] = str,
    associated_of: Callable[[models.Model], AuditTarget | None] | None = None,
    redact_within: dict[str, Callable[[Any], Any]] | None = None,
) -> type[models.Model]:
    if model in _registry:
        return model
    redact_within = dict(redact_within or {})
    names = {n for f in model._meta.concrete_fields for n in (f.name, f.attname)}
    if unknown := set(redact_within) - names:
        # A misspelt field would silently record the secrets it was meant to hide.
        raise ImproperlyConfigured(
            f"audit_register({model.__name__}): redact_within names unknown fields {unknown}."
        )
    _registry[model] = AuditRegistration(
        model=model,
        type_name=type_name or model.__name__,
        exclude=set(exclude),
        sensitive=sensitive if callable(sensitive) else set(sensitive),
        name_of=name_of,
        associated_of=associated_of,
        redact_within=redact_within,
    )
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_on_pre_save, sender=model, weak=False, dispatch_uid=uid)
    post_save.connect(_on_post_save, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(_on_post_delete, sender=model, weak=False, dispatch_uid=uid)
    if not getattr(model.save, "_audit_atomic", False):
        # On the class itself, so an own save() (and its super() chain) runs inside.
        model.save = _atomic_save(model.save)
    return model


def audited(**options: Any) -> Callable[[type[models.Model]], type[models.Model]]:
    """Class decorator form of `audit_register`."""

    def decorate(model: type[models.Model]) -> type[models.Model]:
        return audit_register(model, **options)

    return decorate


def audited_models() -> dict[type[models.Model], AuditRegistration]:
    return dict(_registry)
