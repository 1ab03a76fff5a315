"""
Sensu's `read_data(rules)`: the body must be a JSON object, and each rule gives the accepted
types, whether null is allowed and an optional pattern. Sensu answered 400 with an empty body;
ours names the field (its clients ignore the body either way).
"""

import re
from dataclasses import dataclass
from typing import Any

from rest_framework.exceptions import ParseError, ValidationError

from integration_site.parsers import json_parse

NAME_PATTERN = re.compile(r"\A[\w.-]+\Z")
SUBSCRIPTION_PATTERN = re.compile(r"\A[\w.\-:]+\Z")

TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


@dataclass(frozen=True)
class Rule:
    types: tuple[type, ...]
    nil_ok: bool = True
    pattern: re.Pattern | None = None
    # For arrays: every item must be a string.
    strings: bool = False


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    for kind in types:
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is not int and isinstance(value, kind):
            return True
    return False


def json_object(body: bytes) -> dict[str, Any]:
    # The platform's one parser: also refuses deep nesting, NaN, NUL and unpaired surrogates.
    data = json_parse(body or b"")
    if not isinstance(data, dict):
        raise ParseError("The request body must be a JSON object.")
    return data


def read_data(body: bytes, rules: dict[str, Rule]) -> dict[str, Any]:
    data = json_object(body)
    for field, rule in rules.items():
        value = data.get(field)
        if value is None:
            if not rule.nil_ok:
                raise ValidationError({field: ["This field is required."]})
            continue
        if not _type_ok(value, rule.types):
            expected = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in rule.types)
            raise ValidationError({field: [f"Must be {expected}."]})
        if rule.pattern is not None and not rule.pattern.match(str(value)):
            raise ValidationError({field: [f"Must match {rule.pattern.pattern}."]})
        if rule.strings and not all(isinstance(item, str) for item in value):
            raise ValidationError({field: ["Must be an array of strings."]})
    return data


STRING = Rule((str,))
INTEGER = Rule((int,))
BOOLEAN = Rule((bool,))
STRINGS = Rule((list,), strings=True)

CLIENT_RULES = {
    "name": Rule((str,), nil_ok=False, pattern=NAME_PATTERN),
    "address": Rule((str,), nil_ok=False),
    "subscriptions": STRINGS,
    "keepalives": BOOLEAN,
    "keepalive": Rule((dict,)),
    "version": STRING,
}

RESULT_RULES = {
    "name": Rule((str,), nil_ok=False, pattern=NAME_PATTERN),
    "output": Rule((str,), nil_ok=False),
    "status": INTEGER,
    "executed": INTEGER,
    "issued": INTEGER,
    "interval": INTEGER,
    "source": Rule((str,), pattern=NAME_PATTERN),
    "handler": STRING,
    "handlers": STRINGS,
    "ttl": INTEGER,
    "ttl_status": INTEGER,
    "low_flap_threshold": INTEGER,
    "high_flap_threshold": INTEGER,
    "aggregate": Rule((str, bool)),
    "aggregates": STRINGS,
    "truncate_output": BOOLEAN,
    "auto_resolve": BOOLEAN,
    "type": STRING,
}

RESOLVE_RULES = {
    "client": Rule((str,), nil_ok=False),
    "check": Rule((str,), nil_ok=False),
}

SILENCE_RULES = {
    "subscription": Rule((str,), pattern=SUBSCRIPTION_PATTERN),
    "check": Rule((str,), pattern=NAME_PATTERN),
    "begin": INTEGER,
    "expire": INTEGER,
    "reason": STRING,
    "creator": STRING,
    "expire_on_resolve": BOOLEAN,
}

SILENCE_CLEAR_RULES = {
    "id": STRING,
    "subscription": Rule((str,), pattern=SUBSCRIPTION_PATTERN),
    "check": Rule((str,), pattern=NAME_PATTERN),
}

REQUEST_RULES = {
    "check": Rule((str,), nil_ok=False, pattern=NAME_PATTERN),
    "subscribers": STRINGS,
    "reason": STRING,
    "creator": STRING,
}

STASH_RULES = {
    "path": Rule((str,), nil_ok=False),
    "content": Rule((dict,), nil_ok=False),
    "expire": INTEGER,
}


def result_checks(data: dict[str, Any]) -> None:
    """The rules read_data cannot say: a positive ttl."""
    if data.get("ttl") is not None and data["ttl"] <= 0:
        raise ValidationError({"ttl": ["Must be an integer greater than 0."]})
    if data.get("status") is not None and data["status"] < 0:
        raise ValidationError({"status": ["Must be a non-negative integer."]})
