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

# Sensu's patterns (`[\w.-]+`, `[\w.\-:]+`), where Ruby's \w is ASCII letters, digits and "_".
# Spelled out: Python's \w would also admit every Unicode letter, and the OpenAPI schema (an
# ECMA-262 regex, whose \w is ASCII) would then describe something else than we accept.
NAME_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]+\Z")
SUBSCRIPTION_PATTERN = re.compile(r"\A[A-Za-z0-9_.\-:]+\Z")

TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


# The columns' ranges: what the engine stores must fit them, or a result accepted with a 202
# would fail in the worker (PostgreSQL's integer and bigint, the CharFields' max_length).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
NAME_MAX = 255
# Epoch seconds a datetime can hold (year 9999).
EPOCH_MAX = 253_402_300_799


@dataclass(frozen=True)
class Rule:
    types: tuple[type, ...]
    nil_ok: bool = True
    pattern: re.Pattern | None = None
    # For arrays: every item must be a string.
    strings: bool = False
    # Integers: the accepted range.
    minimum: int | None = None
    maximum: int | None = None
    # Strings, and each string of an array: the longest accepted.
    max_length: int | None = None


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
    return rules_check(json_object(body), rules)


def rules_check(data: dict[str, Any], rules: dict[str, Rule]) -> dict[str, Any]:
    """`rules` applied to an object already parsed (a transport message's `check`)."""
    for field, rule in rules.items():
        value = data.get(field)
        if value is None:
            if not rule.nil_ok:
                raise ValidationError({field: ["This field is required."]})
            continue
        if not _type_ok(value, rule.types):
            expected = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in rule.types)
            raise ValidationError({field: [f"Must be {expected}."]})
        _check_bounds(field, value, rule)
        if rule.pattern is not None and not rule.pattern.match(str(value)):
            raise ValidationError({field: [f"Must match {rule.pattern.pattern}."]})
        if rule.strings and not all(isinstance(item, str) for item in value):
            raise ValidationError({field: ["Must be an array of strings."]})
        if rule.strings and rule.max_length is not None:
            for index, item in enumerate(value):
                if len(item) > rule.max_length:
                    raise ValidationError({f"{field}[{index}]": [_too_long(rule.max_length)]})
    return data


def _check_bounds(field: str, value: Any, rule: Rule) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = rule.minimum, rule.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            limits = f"from {low} to {high}" if low is not None else f"no greater than {high}"
            raise ValidationError({field: [f"Must be an integer {limits}."]})
    if isinstance(value, str) and rule.max_length is not None and len(value) > rule.max_length:
        raise ValidationError({field: [_too_long(rule.max_length)]})


def _too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


STRING = Rule((str,))
NAME = Rule((str,), max_length=NAME_MAX)
BOOLEAN = Rule((bool,))
NAMES = Rule((list,), strings=True, max_length=NAME_MAX)
# An integer column (status, ttl, expire): PostgreSQL's integer.
COUNT = Rule((int,), minimum=0, maximum=INT32_MAX)
# Epoch seconds (executed, issued): a bigint column.
EPOCH = Rule((int,), minimum=-INT64_MAX, maximum=INT64_MAX)

CLIENT_RULES = {
    "name": Rule((str,), nil_ok=False, pattern=NAME_PATTERN, max_length=NAME_MAX),
    "address": Rule((str,), nil_ok=False, max_length=NAME_MAX),
    "subscriptions": NAMES,
    "keepalives": BOOLEAN,
    "keepalive": Rule((dict,)),
    "version": Rule((str,), max_length=64),
}

RESULT_RULES = {
    "name": Rule((str,), nil_ok=False, pattern=NAME_PATTERN, max_length=NAME_MAX),
    "output": Rule((str,), nil_ok=False),
    "status": Rule((int,), minimum=0, maximum=INT32_MAX),
    "executed": EPOCH,
    "issued": EPOCH,
    "interval": COUNT,
    "source": Rule((str,), pattern=NAME_PATTERN, max_length=NAME_MAX),
    "handler": NAME,
    "handlers": NAMES,
    # A positive ttl, as a rule rather than a check after it, so the schema states it too.
    "ttl": Rule((int,), minimum=1, maximum=INT32_MAX),
    "ttl_status": COUNT,
    "low_flap_threshold": COUNT,
    "high_flap_threshold": COUNT,
    "aggregate": Rule((str, bool), max_length=NAME_MAX),
    "aggregates": NAMES,
    "truncate_output": BOOLEAN,
    "auto_resolve": BOOLEAN,
    "type": NAME,
}

RESOLVE_RULES = {
    "client": Rule((str,), nil_ok=False, max_length=NAME_MAX),
    "check": Rule((str,), nil_ok=False, max_length=NAME_MAX),
}

SILENCE_RULES = {
    "subscription": Rule((str,), pattern=SUBSCRIPTION_PATTERN, max_length=NAME_MAX),
    "check": Rule((str,), pattern=NAME_PATTERN, max_length=NAME_MAX),
    "begin": Rule((int,), minimum=0, maximum=EPOCH_MAX),
    "expire": COUNT,
    "reason": STRING,
    "creator": NAME,
    "expire_on_resolve": BOOLEAN,
}

SILENCE_CLEAR_RULES = {
    "id": Rule((str,), max_length=2 * NAME_MAX + 1),
    "subscription": Rule((str,), pattern=SUBSCRIPTION_PATTERN, max_length=NAME_MAX),
    "check": Rule((str,), pattern=NAME_PATTERN, max_length=NAME_MAX),
}

REQUEST_RULES = {
    "check": Rule((str,), nil_ok=False, pattern=NAME_PATTERN, max_length=NAME_MAX),
    "subscribers": NAMES,
    "reason": STRING,
    "creator": NAME,
}

STASH_RULES = {
    "path": Rule((str,), nil_ok=False, max_length=1024),
    "content": Rule((dict,), nil_ok=False),
    "expire": COUNT,
}

# --- The transport's messages (monitoring/sensu/transport.py) --------------------------------

# A keepalive is the agent's client definition plus `version` and `timestamp`, and its
# `signature` when it has one (sensu client/process.rb keepalive_payload).
KEEPALIVE_RULES = {
    **CLIENT_RULES,
    "timestamp": EPOCH,
    "signature": Rule((str,), max_length=NAME_MAX),
}

# A result message's envelope (sensu client/process.rb publish_check_result); its `check` is
# then held to RESULT_RULES, as a POST /results body is.
TRANSPORT_RESULT_RULES = {
    "client": Rule((str,), nil_ok=False, pattern=NAME_PATTERN, max_length=NAME_MAX),
    "check": Rule((dict,), nil_ok=False),
    "signature": Rule((str,), max_length=NAME_MAX),
}
