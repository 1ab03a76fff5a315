"""
Validation of events posted to the Replicated Audit API (`POST /audit/v1/event` and the bulk
endpoint). Hand-written rather than a DRF serializer: this is the hot path, and a serializer
costs more than the INSERT it guards (performance-and-reliability.md §2).

An event is the Replicated body (`action`, `name`, `title`, `description`, `ip_address`) plus
Retraced's richer fields. Every rule and limit is in `LIMITS` and the README/api-compat docs.
Strings are stored exactly as sent (control characters and newlines included): escaping is
the renderer's job. NUL and unpaired surrogates are refused because PostgreSQL text cannot
hold them.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from django.utils.dateparse import parse_datetime

from audits.chain import normalize_ip
from audits.context import AuditActor
from audits.models import ActorType, Crud

# Replicated stored whatever action an application sent, and Retraced's schema asks only for
# a string: any non-empty string fits, spaces included (`User Login`), up to the column's 255.
ACTION_MAX = 255

# Maximum lengths, in characters.
LIMITS = {
    "action": ACTION_MAX,
    "name": 255,
    "title": 255,
    "description": 10_000,
    "ip_address": 45,
    "external_id": 255,
    "component": 255,
    "version": 255,
    "actor.id": 255,
    "actor.name": 255,
    "actor.href": 2000,
    "target.id": 255,
    "target.name": 255,
    "target.type": 255,
    "target.href": 2000,
    "group.id": 255,
    "group.name": 255,
    "fields.key": 255,
    "fields.value": 10_000,
    "fields.count": 100,
}

TOP_LEVEL_KEYS = frozenset(
    {
        # Replicated's Audit API.
        "action",
        "name",
        "title",
        "description",
        "ip_address",
        # Retraced's event.
        "source_ip",
        "crud",
        "actor",
        "target",
        "group",
        "is_failure",
        "is_anonymous",
        "fields",
        "metadata",
        "created",
        "external_id",
        "component",
        "version",
    }
)
ACTOR_KEYS = frozenset({"id", "name", "href", "fields"})
TARGET_KEYS = frozenset({"id", "name", "href", "type", "fields"})
GROUP_KEYS = frozenset({"id", "name"})
CRUD_VALUES = frozenset(choice.value for choice in Crud)

# The accepted range of `created`, in UTC, the end excluded: 1970-01-01 to 9998-12-31. An
# audit event before the Unix epoch is a client bug (a zero or unset timestamp), not history.
# The end stays a year short of datetime.max so that the time converts to UTC, and then to any
# zone a page or export renders it in, without OverflowError; PostgreSQL could store a later
# one that Python then cannot read back, breaking every query (and the pending linker) that
# loads the row.
CREATED_MIN: Final = datetime(1970, 1, 1, tzinfo=UTC)
CREATED_END: Final = datetime(9999, 1, 1, tzinfo=UTC)

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int = 80) -> str:
    """A key or value safe to quote in a message or a log line: control characters escaped."""
    text = text[:limit]
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# --- The event as JSON Schema (the OpenAPI request body of both Replicated endpoints) -------
# The rules above, stated for clients: what the schema allows, event_validate accepts
# (tests/hostile/test_schemathesis.py sends what schemathesis generates from it). Beyond it:
# NUL characters and unpaired surrogates (refused in every string), and `created` in 1970 or
# from 9990 to 9998 (accepted, left out of the pattern so that an offset cannot carry a time
# stated in range out of it).


def _string_schema(path: str) -> dict[str, Any]:
    return {"type": "string", "maxLength": LIMITS[path], "nullable": True}


def _string_map_schema(description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "nullable": True,
        "maxProperties": LIMITS["fields.count"],
        # OpenAPI 3.0 has no type lists: a value is a string, a number or a boolean (or null).
        "additionalProperties": {
            "nullable": True,
            "anyOf": [
                {"type": "string", "maxLength": LIMITS["fields.value"]},
                {"type": "number"},
                {"type": "boolean"},
            ],
        },
        "description": description,
    }


def _object_schema(prefix: str, keys: frozenset[str]) -> dict[str, Any]:
    properties = {
        key: _string_map_schema("Its own fields.")
        if key == "fields"
        else _string_schema(f"{prefix}.{key}")
        for key in sorted(keys)
    }
    return {
        "type": "object",
        "nullable": True,
        "properties": properties,
        "additionalProperties": False,
    }


_IP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "nullable": True,
    "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}, {"maxLength": 0}],
    "description": "An IPv4 or IPv6 address (no zone), or empty.",
}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "minLength": 1, "maxLength": ACTION_MAX},
        **{key: _string_schema(key) for key in ("name", "title", "description")},
        "ip_address": _IP_SCHEMA,
        "source_ip": {**_IP_SCHEMA, "description": "Retraced's name for ip_address."},
        "crud": {"type": "string", "nullable": True, "enum": [*sorted(CRUD_VALUES), ""]},
        "actor": _object_schema("actor", ACTOR_KEYS),
        "target": _object_schema("target", TARGET_KEYS),
        "group": _object_schema("group", GROUP_KEYS),
        "is_failure": {"type": "boolean", "nullable": True},
        "is_anonymous": {"type": "boolean", "nullable": True},
        "fields": _string_map_schema("Retraced's event fields."),
        "metadata": _string_map_schema("Retraced's metadata."),
        "created": {
            "type": "string",
            "format": "date-time",
            "pattern": r"^(197[1-9]|19[89]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d)-",
            "nullable": True,
            "description": "When it happened (ISO 8601); the time received when absent.",
        },
        **{key: _string_schema(key) for key in ("external_id", "component", "version")},
    },
    "required": ["action"],
    "additionalProperties": False,
    # Not both addresses (either may be null).
    "not": {
        "required": ["ip_address", "source_ip"],
        "properties": {"ip_address": {"type": "string"}, "source_ip": {"type": "string"}},
    },
}


class EventInvalid(Exception):
    """Field path -> messages, as DRF's ValidationError detail."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class ValidEvent:
    """
    A validated event: `values` are AuditEvent attribute values (the target's flattened into
    target_*), `actor` the actor it names, if any; the request context fills in the rest.
    """

    values: dict[str, Any] = field(default_factory=dict)
    actor: AuditActor | None = None
    ip_address: str | None = None


class _Checker:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def string(self, data: dict, key: str, path: str, *, limit: int | None = None) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(path, f"Must be a string, not {_json_type(value)}.")
            return ""
        limit = limit or LIMITS[path]
        if len(value) > limit:
            self.fail(path, f"Ensure this field has no more than {limit} characters.")
            return ""
        if _UNSTORABLE.search(value):
            self.fail(path, "NUL characters and unpaired surrogates cannot be stored.")
            return ""
        return value

    def boolean(self, data: dict, key: str) -> bool:
        value = data.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(key, f"Must be a boolean, not {_json_type(value)}.")
            return False
        return value

    def obj(self, data: dict, key: str, allowed: frozenset[str]) -> dict:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"Must be an object, not {_json_type(value)}.")
            return {}
        for unknown in sorted(set(value) - allowed):
            self.fail(f"{key}.{printable(unknown)}", "Unknown field.")
        return value

    def string_map(self, data: dict, key: str, path: str | None = None) -> dict[str, str]:
        path = path or key
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"Must be an object of strings, not {_json_type(value)}.")
            return {}
        if len(value) > LIMITS["fields.count"]:
            self.fail(path, f"Ensure this object has no more than {LIMITS['fields.count']} keys.")
            return {}
        result = {}
        for name, item in value.items():
            shown = f"{path}.{printable(name)}"
            if len(name) > LIMITS["fields.key"] or _UNSTORABLE.search(name):
                self.fail(shown, "Invalid key (too long, NUL or unpaired surrogate).")
                continue
            # Retraced's fields are string maps; numbers and booleans are kept as sent, but
            # json reads a number beyond a float's range (1e400) as infinity, which jsonb
            # cannot store.
            if isinstance(item, float) and not math.isfinite(item):
                self.fail(shown, "Number out of range.")
                continue
            if isinstance(item, bool | int | float) or item is None:
                result[name] = item
                continue
            if not isinstance(item, str):
                self.fail(shown, f"Must be a string, number or boolean, not {_json_type(item)}.")
                continue
            if len(item) > LIMITS["fields.value"] or _UNSTORABLE.search(item):
                self.fail(shown, "Invalid value (too long, NUL or unpaired surrogate).")
                continue
            result[name] = item
        return result


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


class CreatedInvalid(ValueError):
    """`created` is not a date-time, or outside CREATED_MIN..CREATED_END; args[0] says which."""


def _parse_created(value: Any) -> datetime:
    """`created` as an aware datetime in UTC; raises CreatedInvalid with the client's message."""
    not_a_time = "Must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z."
    if not isinstance(value, str):
        raise CreatedInvalid(not_a_time)
    try:
        parsed = parse_datetime(value)
    except ValueError:
        raise CreatedInvalid(not_a_time) from None
    if parsed is None:
        raise CreatedInvalid(not_a_time)
    out_of_range = f"Must be from {CREATED_MIN:%Y-%m-%d} to before {CREATED_END:%Y-%m-%d} (UTC)."
    try:
        # A time without an offset is taken as UTC, as Retraced does. The conversion
        # overflows for 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00.
        in_utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        raise CreatedInvalid(out_of_range) from None
    if not CREATED_MIN <= in_utc < CREATED_END:
        raise CreatedInvalid(out_of_range)
    return in_utc


def event_validate(data: Any) -> ValidEvent:
    """Check one posted event; raises EventInvalid naming every bad field."""
    check = _Checker()
    if not isinstance(data, dict):
        raise EventInvalid(
            {"non_field_errors": [f"Expected a JSON object, not {_json_type(data)}."]}
        )
    for unknown in sorted(set(data) - TOP_LEVEL_KEYS):
        check.fail(printable(unknown), "Unknown field.")

    action = data.get("action")
    if action is None or action == "":
        check.fail("action", "This field is required.")
    elif not isinstance(action, str):
        check.fail("action", f"Must be a string, not {_json_type(action)}.")
    elif len(action) > ACTION_MAX:
        check.fail("action", f"Ensure this field has no more than {ACTION_MAX} characters.")
    elif _UNSTORABLE.search(action):
        check.fail("action", "NUL characters and unpaired surrogates cannot be stored.")

    event = ValidEvent()
    values = event.values
    values["action"] = action if isinstance(action, str) else ""
    for key in ("name", "title", "description", "external_id", "component"):
        values[key] = check.string(data, key, key)
    values["component_version"] = check.string(data, "version", "version")

    ip = data.get("ip_address")
    ip_key = "ip_address"
    if data.get("source_ip") is not None:
        if ip is not None:
            check.fail("source_ip", "Give either ip_address or source_ip, not both.")
        ip, ip_key = data["source_ip"], "source_ip"
    if ip is not None and ip != "":
        if not isinstance(ip, str):
            check.fail(ip_key, f"Must be a string, not {_json_type(ip)}.")
        elif "%" in ip:
            # fe80::1%eth0 names an interface of the sender's host, meaningless here, and the
            # database would drop it: the record keeps the address alone, so the client must.
            check.fail(ip_key, "An IPv6 zone (scope id, %...) is not accepted; send the address.")
        else:
            try:
                event.ip_address = normalize_ip(ip)
            except ValueError:
                check.fail(ip_key, "Enter a valid IPv4 or IPv6 address.")

    crud = data.get("crud")
    if crud is not None and crud != "":
        # An array or object is unhashable: test the type before the set.
        if not isinstance(crud, str) or crud not in CRUD_VALUES:
            check.fail("crud", "Must be one of c, r, u, d.")
        else:
            values["crud"] = crud

    values["is_failure"] = check.boolean(data, "is_failure")
    values["is_anonymous"] = check.boolean(data, "is_anonymous")

    actor = check.obj(data, "actor", ACTOR_KEYS)
    if actor:
        actor_id = check.string(actor, "id", "actor.id")
        actor_name = check.string(actor, "name", "actor.name")
        event.actor = AuditActor(
            type=ActorType.INTEGRATION,
            id=actor_id,
            name=actor_name or actor_id,
            href=check.string(actor, "href", "actor.href"),
        )
        values["actor_fields"] = check.string_map(actor, "fields", "actor.fields")
    target = check.obj(data, "target", TARGET_KEYS)
    if target:
        for key in ("type", "id", "name", "href"):
            values[f"target_{key}"] = check.string(target, key, f"target.{key}")
        values["target_fields"] = check.string_map(target, "fields", "target.fields")
    group = check.obj(data, "group", GROUP_KEYS)
    if group:
        values["group_id"] = check.string(group, "id", "group.id")
        values["group_name"] = check.string(group, "name", "group.name")

    values["fields"] = check.string_map(data, "fields")
    values["metadata"] = check.string_map(data, "metadata")

    created = data.get("created")
    if created is not None:
        try:
            values["created_at"] = _parse_created(created)
        except CreatedInvalid as invalid:
            check.fail("created", str(invalid))

    if check.errors:
        raise EventInvalid(check.errors)
    return event
