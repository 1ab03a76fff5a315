"""
Retraced's event receipt: the SHA-256 the publisher API answers beside a new event's id, which
the official clients recompute and compare ("hash mismatch" / "Local event hash calculation
did not match the server's" when it differs). Retraced's server hashes with retraced-js's own
`computeHash` (src/event.ts) over the request body as sent, so this is a line-for-line port of
`buildHashTarget`, JavaScript's truthiness and sort order included:

    id : action : target.id : actor.id : group.id : source_ip : is_failure : is_anonymous :
    FIELDS [ : external_id ] [ : METADATA ]

- every value is escaped by pass one (`%` -> `%25`, then `:` -> `%3A`); the keys and values
  of `fields` and `metadata` also by pass two (`=` -> `%3D`, then `;` -> `%3B`), as `k=v;`
  in sorted key order;
- an absent or empty (`{}`) target, actor or group, or an empty source_ip, is an empty
  segment;
- `fields` absent (or null) appends one more `:`; `fields: {}` is present and appends nothing;
- `external_id` is appended only when non-empty; `metadata` whenever present, `{}` included
  (a lone `:`).

The input is the event as the client sent it (the parsed JSON body), never the stored row:
the server must hash what the client hashes, so an IPv6 source_ip is hashed as written, not
in the compressed form it is stored in.
"""

import hashlib
from collections.abc import Mapping
from typing import Any


def compute_hash(event: Mapping[str, Any], event_id: str) -> str:
    """retraced-js `computeHash(event, id).hashResult`: SHA-256 hex of the hash target."""
    return hashlib.sha256(hash_target(event, event_id).encode("utf-8")).hexdigest()


def hash_target(event: Mapping[str, Any], event_id: str) -> str:
    """retraced-js `buildHashTarget(event, id)`: the canonical string that is hashed."""
    parts = [
        _pass_one(event_id),
        ":",
        _pass_one(event.get("action")),
        ":",
        _object_id(event.get("target")),
        ":",
        _object_id(event.get("actor")),
        ":",
        _object_id(event.get("group")),
        ":",
        _pass_one(event.get("source_ip")) if event.get("source_ip") else "",
        ":",
        "1:" if event.get("is_failure") else "0:",
        "1:" if event.get("is_anonymous") else "0:",
    ]
    fields = event.get("fields")
    if fields is None:
        parts.append(":")
    else:
        parts.append(_pairs(fields))
    if event.get("external_id"):
        parts += [":", _pass_one(event["external_id"])]
    metadata = event.get("metadata")
    if metadata is not None:
        parts += [":", _pairs(metadata)]
    return "".join(parts)


def _object_id(value: Any) -> str:
    # `_.isEmpty(event.target) ? ":" : encodePassOne(event.target.id) + ":"`: an absent or
    # empty object is an empty segment. Validation guarantees a present object has an id.
    if not value:
        return ""
    return _pass_one(value.get("id"))


def _pairs(mapping: Mapping[str, Any]) -> str:
    # JavaScript's default sort compares UTF-16 code units, not code points: a key with a
    # character beyond U+FFFF (a surrogate pair, D800-DFFF) sorts before one with U+E000-FFFF.
    # UTF-16BE bytes compare in exactly that order.
    keys = sorted(mapping, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    return "".join(
        f"{_pass_two(_pass_one(key))}={_pass_two(_pass_one(mapping[key]))};" for key in keys
    )


def _pass_one(value: Any) -> str:
    # encodePassOne leaves a non-string (or empty) value as it is; JavaScript's template
    # literal then prints it (`undefined`, `5`). Validation admits only strings where it
    # matters, so the one non-string reaching here is None for an absent value.
    if not isinstance(value, str):
        return "" if value is None else str(value)
    return value.replace("%", "%25").replace(":", "%3A")


def _pass_two(value: str) -> str:
    return value.replace("=", "%3D").replace(";", "%3B")
