"""
Value checks shared by the models' `clean()`, the license-file parser, the admin forms and
the services: does a typed license field's value fit its type, is a console option's value
valid for its type. Each returns why a value is wrong, or None; callers decide how to raise.
"""

import re
from typing import Any, Protocol

from licensing.choices import FieldType, OptionType


def field_value_error(field_type: str, value: Any) -> str | None:
    """Why `value` does not fit `field_type`, or None when it does."""
    if field_type not in FieldType.values:
        return f"Unknown field type {field_type!r}; expected one of {', '.join(FieldType.values)}."
    if value is None:
        return None
    if field_type == FieldType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"An Integer field needs a whole number, got {value!r}."
    elif field_type == FieldType.BOOLEAN:
        if not isinstance(value, bool):
            return f"A Boolean field needs true or false, got {value!r}."
    elif not isinstance(value, str):
        return f"A {field_type} field needs a string, got {value!r}."
    return None


class OptionLike(Protocol):
    """What option validation reads: a ConsoleOption, saved or not (the admin form's probe)."""

    name: str
    type: str
    choices: list[str]


_SCHEDULE = re.compile(
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|@every (\d+(ns|us|ms|s|m|h))+"
    r"|([\d*/,\-A-Za-z?]+\s+){4}[\d*/,\-A-Za-z?]+)$"
)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def option_value_error(option: OptionLike, value: str) -> str | None:
    """Why `value` is not valid for `option`, or None. An empty value means "not set"."""
    if value == "":
        return None
    kind = option.type
    if kind == OptionType.INTEGER:
        if not re.fullmatch(r"-?\d+", value.strip()):
            return f"{option.name} needs a whole number, got {value!r}."
    elif kind == OptionType.BOOLEAN:
        if value not in ("true", "false"):
            return f"{option.name} needs 'true' or 'false', got {value!r}."
    elif kind == OptionType.CHOICE:
        if value not in option.choices:
            return f"{option.name} must be one of {', '.join(option.choices)}; got {value!r}."
    elif kind == OptionType.SCHEDULE:
        if not _SCHEDULE.match(value.strip()):
            return (
                f"{option.name} needs a schedule such as '@every 5h', '@daily' or a five-field "
                f"cron line; got {value!r}."
            )
    elif kind == OptionType.TIME:
        if not _TIME.match(value):
            return f"{option.name} needs a time of day as HH:MM, got {value!r}."
    elif kind == OptionType.PEM:
        if "-----BEGIN " not in value or "-----END " not in value:
            return f"{option.name} needs a PEM block (-----BEGIN ...----- ... -----END ...-----)."
    elif kind == OptionType.GROUP:
        return f"{option.name} is computed from its sub-options and cannot be set."
    elif kind == OptionType.STRING and "\n" in value:
        return f"{option.name} is a single line; use no line breaks."
    return None
