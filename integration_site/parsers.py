"""
The platform's one JSON parser (and its YAML reader, `yaml_parse`): DRF's `JSONParser` for views that read `request.data` (set in
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]) and `json_parse` for views that read the body by
hand (the Sensu routes, the Replicated Audit API).

Beyond the JSON grammar it refuses, with a 400 naming the problem, what would otherwise fail
later as a 500 or be stored wrong: NaN and Infinity (not JSON; jsonb refuses them), nesting
deeper than JSON_MAX_DEPTH (Python's recursion limit is reached on the way, or later while
storing or rendering the value), and, unless the caller checks values itself, NUL characters
and unpaired surrogates in strings or keys (PostgreSQL's text and jsonb cannot hold them) and
numbers beyond a float's range (json reads 1e400 as infinity).
"""

import json
import math
import re
from typing import Any

import yaml
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# Far deeper than any document our peers send (a Sensu check's custom attributes, a bookmark,
# a login), and far below the recursion limits of everything that later walks the value.
JSON_MAX_DEPTH = 64

UNSTORABLE_TEXT = re.compile(r"[\x00\ud800-\udfff]")
# Escaped when quoted, unpaired surrogates too: they cannot even be encoded into the answer.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def quoted(text: str, limit: int = 80) -> str:
    """A key or value safe to quote in a message: cut short, control characters escaped."""
    text = text[:limit]
    return _CONTROL.sub(
        lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text
    )


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not valid JSON")


def json_parse(body: bytes | str, *, values_checked_by_caller: bool = False) -> Any:
    """
    The body as JSON, or a ParseError/ValidationError (400). `values_checked_by_caller` skips
    the walk over the parsed value (depth, text, number range): only for a caller whose own
    validator checks every value with its field's path and accepts no free nesting, as the
    audit ingest does on its fast path.
    """
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"Request body is not valid JSON: {quoted(str(exc))}") from None
    except RecursionError:
        raise ParseError(
            f"Request body is nested too deeply (at most {JSON_MAX_DEPTH} levels)."
        ) from None
    if not values_checked_by_caller:
        _check_values(data)
    return data


class _NoAliasLoader(yaml.SafeLoader):
    """
    SafeLoader without aliases. An alias is a reference, so a few levels of them (the
    "billion laughs") load in microseconds and then expand to billions of nodes when the
    document is serialised, signed or stored: a license file or a release manifest never
    needs one.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not accepted", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


def yaml_parse(text: str) -> Any:
    """
    A YAML document from text we did not write (uploaded licenses, release manifests), or
    yaml.YAMLError naming the problem: no aliases, and nesting that would exhaust the
    composer's recursion is an error, not a crash.
    """
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except RecursionError:
        raise yaml.YAMLError("The YAML document is nested too deeply.") from None


def _check_values(data: Any) -> None:
    """Walks the value without recursion (so depth itself cannot overflow the stack)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if UNSTORABLE_TEXT.search(value):
                _invalid(path, "NUL characters and unpaired surrogates cannot be stored.")
        elif isinstance(value, float):
            if not math.isfinite(value):
                _invalid(path, "Number out of range.")
        elif isinstance(value, dict | list):
            if depth >= JSON_MAX_DEPTH:
                raise ParseError(
                    f"Request body is nested too deeply (at most {JSON_MAX_DEPTH} levels)."
                )
            if isinstance(value, list):
                for index, item in enumerate(value):
                    stack.append((item, f"{path}[{index}]", depth + 1))
                continue
            for key, item in value.items():
                child = f"{path}.{quoted(key)}" if path else quoted(key)
                if UNSTORABLE_TEXT.search(key):
                    _invalid(child, "NUL characters and unpaired surrogates cannot be keys.")
                stack.append((item, child, depth + 1))


def _invalid(path: str, message: str) -> None:
    raise ValidationError({path or "non_field_errors": [message]})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through `json_parse`, so `request.data` gets the same checks."""

    def parse(self, stream, media_type=None, parser_context=None):
        return json_parse(stream.read() if stream is not None else b"")
