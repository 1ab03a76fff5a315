"""
Retraced's rules for a published event (rt src/handlers/createEvent.ts): the site's own event
checks (audits.ingest.event_validate: types, lengths, IP addresses, `created`, string maps),
then what Retraced demands on top:

- `crud` is required (the client marks it optional; the server refuses an event without it);
- `actor` is required unless `is_anonymous` is true;
- `group.id`, `actor.id`, `target.id` are required when the object is present and not `{}`;
- the keys are Retraced's alone: Joi rejects unknown keys, and the Replicated Audit API's
  `name`, `title` and `ip_address` are unknown there;
- `fields`, `metadata` and the actor's and target's `fields` map strings to strings: the
  receipt hash prints their values, and JavaScript prints `true` where Python prints `True`.
"""

from typing import Any

from audits.ingest import EventInvalid, ValidEvent, event_validate, printable

# Keys audits.ingest accepts for the Replicated Audit API that Retraced's schema does not.
REPLICATED_ONLY_KEYS = ("name", "title", "ip_address")
ID_REQUIRED_OBJECTS = ("group", "actor", "target")
STRING_MAPS = (("fields",), ("metadata",), ("actor", "fields"), ("target", "fields"))


def retraced_event_validate(data: Any) -> ValidEvent:
    """One published event, checked as Retraced would; raises EventInvalid naming each field."""
    try:
        event = event_validate(data)
        errors: dict[str, list[str]] = {}
    except EventInvalid as invalid:
        event, errors = None, invalid.errors
    if isinstance(data, dict):
        for path, message in _retraced_violations(data):
            messages = errors.setdefault(path, [])
            if message not in messages:
                messages.append(message)
    if errors or event is None:
        raise EventInvalid(errors)
    return event


def _retraced_violations(data: dict) -> list[tuple[str, str]]:
    violations = []
    for key in REPLICATED_ONLY_KEYS:
        if key in data:
            violations.append((key, "Unknown field."))
    if data.get("crud") is None or data.get("crud") == "":
        violations.append(("crud", "This field is required (one of c, r, u, d)."))
    # lodash's isEmpty: an absent actor, null and {} all count as no actor.
    if data.get("is_anonymous") is not True and not data.get("actor"):
        violations.append(("actor", "This field is required unless is_anonymous is true."))
    for name in ID_REQUIRED_OBJECTS:
        value = data.get(name)
        if isinstance(value, dict) and value and (value.get("id") is None or value["id"] == ""):
            violations.append((f"{name}.id", f"This field is required when {name} is present."))
    for path in STRING_MAPS:
        mapping = data
        for key in path:
            mapping = mapping.get(key) if isinstance(mapping, dict) else None
        if not isinstance(mapping, dict):
            continue  # absent, or a non-object event_validate has already named
        shown = ".".join(path)
        for name, value in mapping.items():
            if not isinstance(value, str):
                # event_validate admits numbers, booleans and null for the Replicated API.
                violations.append((f"{shown}.{printable(name)}", "Must be a string."))
    return violations
