"""OpenAPI: descriptions of our authentication classes, and the schema for peer-shaped views."""

import re
from collections.abc import Callable
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integration_site.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>` (or `Token <token>`). "
            "Create tokens in the admin or with `manage.py create_api_token`.",
        }


class BasicScheme(OpenApiAuthenticationExtension):
    target_class = "integration_site.authentication.BasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}


# --- What the peer-shaped views answer --------------------------------------------------
# Their payloads are hand-built JSON; these say whether a body is one object or an array of
# them (the wire shape clients parse), so the schema does not promise an object for a list.
JSON_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": {}}
JSON_ARRAY: dict[str, Any] = {"type": "array", "items": JSON_OBJECT}
ISSUED: dict[str, Any] = {
    "type": "object",
    "properties": {"issued": {"type": "integer"}},
    "required": ["issued"],
}
PATH_CREATED: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string"}},
    "required": ["path"],
}


def wire(responses: dict[int, dict | None], *, request: dict | None = None) -> Callable[[Any], Any]:
    """`@extend_schema` for a peer-shaped method: its success status(es) and body shape(s),
    and for a body-reading method the JSON object it requires."""
    kwargs: dict[str, Any] = {
        "responses": {
            code: OpenApiResponse(response=body, description=_DESCRIPTIONS.get(code, ""))
            for code, body in responses.items()
        }
    }
    if request is not None:
        # Keyed by media type: the one parser reads JSON (integration_site.parsers).
        kwargs["request"] = {"application/json": request}
    return extend_schema(**kwargs)


_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    404: "Nothing of that name",
    409: "Conflicts with the current state",
    422: "Cannot be processed",
}


def body_schema(rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-object request schema from Sensu's `read_data` rules (monitoring.sensu
    .validation.Rule): a rule that does not allow null is required."""
    if rules is None:
        return dict(JSON_OBJECT)
    properties: dict[str, Any] = {}
    required = []
    for field, rule in rules.items():
        kinds = [_JSON_TYPES[kind] for kind in rule.types]
        # OpenAPI 3.0: one type per schema, alternatives by oneOf.
        prop: dict[str, Any] = (
            {"type": kinds[0]} if len(kinds) == 1 else {"oneOf": [{"type": k} for k in kinds]}
        )
        if rule.max_length is not None and "string" in kinds:
            prop["maxLength"] = rule.max_length
        if rule.pattern is not None:
            # ECMA-262, the schema's regex dialect, spells Python's \A and \Z as ^ and $.
            prop["pattern"] = (
                "^" + rule.pattern.pattern.removeprefix(r"\A").removesuffix(r"\Z") + "$"
            )
        if rule.minimum is not None:
            prop["minimum"] = rule.minimum
        if rule.maximum is not None:
            prop["maximum"] = rule.maximum
        if rule.strings:
            prop["items"] = {"type": "string"}
        if rule.nil_ok:
            prop["nullable"] = True
        else:
            required.append(field)
        properties[field] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_JSON_TYPES = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object"}


# --- The errors every route can answer ----------------------------------------------------
ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "The site's one error format (integration_site.errors).",
    "properties": {
        "message": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {}},
    },
    "required": ["message", "code"],
}
# Foreman-shaped views (`format_error`) answer Foreman's shapes, which differ by status.
PEER_ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {},
    "description": "The peer's error format (Foreman's `{\"error\": {...}}`, or its 404).",
}
# A string with a character other than whitespace (ECMA-262's \s is Unicode's, as Python's
# str.strip()).
NOT_BLANK = r"\S"
ERROR_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, a NUL byte, a parameter or field out of range",
    401: "Not authenticated",
    403: "The credentials lack the scope this route needs",
    404: "Nothing at this path, or a context parameter (`location_id`, `organization_id`) "
    "names nothing",
    413: "Body larger than API_MAX_BODY_BYTES",
    415: "Body not JSON",
    429: "Too many failed sign-ins from this user or address, or (a search, behind "
    "docs/deploy/nginx.conf) too many searches from this credential or address: wait "
    "Retry-After seconds",
    503: "A database query took longer than DATABASE_STATEMENT_TIMEOUT_MS, or a service "
    "this route needs is down: retry after Retry-After seconds",
    507: "The database's storage is full: nothing was stored; retry after Retry-After seconds",
}


class SiteSchema(AutoSchema):
    """
    The default schema class: adds to each operation the error statuses the platform can
    answer on it (its error format, integration_site.errors), so clients see every 4xx/5xx
    a route can give, not only its success.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        body = PEER_ERROR_BODY if callable(getattr(self.view, "format_error", None)) else ERROR_BODY
        for code in self._error_statuses():
            responses.setdefault(
                str(code),
                {
                    "content": {"application/json": {"schema": body}},
                    "description": ERROR_DESCRIPTIONS[code],
                },
            )
        return responses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # DRF trims a CharField before its blank check, so "  " is refused as blank: a
        # request's non-blank string must hold a non-space character, and the schema says so
        # (drf-spectacular states only minLength).
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = NOT_BLANK
        # An address of either family: drf-spectacular states a format for one family only.
        if (
            isinstance(field, serializers.IPAddressField)
            and field.protocol == "both"
            and "format" not in schema
        ):
            schema["anyOf"] = [{"format": "ipv4"}, {"format": "ipv6"}]
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        # Every view here that declares a body parses it and refuses its absence (not a JSON
        # object, a missing field): free-form bodies are required too, not only serializers.
        schema, _required = super()._get_request_for_media_type(serializer, direction)
        return schema, schema is not None

    def _error_statuses(self) -> list[int]:
        codes = [400]
        if any(requirement for requirement in self.get_auth()):
            codes += [401, 403]
            if any("basicAuth" in requirement for requirement in self.get_auth()):
                codes.append(429)  # the sign-in lockout ledger (integration_site.lockout)
        filterset = getattr(self.view, "filterset_class", None)
        if "{" in self.path or getattr(filterset, "answers_not_found", False):
            codes.append(404)
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append(413)  # the body limit holds whether or not the view reads the body
            if self.get_request_serializer() is not None:
                codes.append(415)
        codes.append(503)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes.append(507)  # a write the database's full disk refused (errors.storage_full)
        return sorted(codes)


class PeerShapedSchema(SiteSchema):
    """
    For views whose wire format a peer defines (Sensu, Foreman's helpers) and that build
    their JSON by hand: documented as free-form JSON objects instead of guessed serializers.
    """

    def get_request_serializer(self):
        if self.method in ("POST", "PUT", "PATCH"):
            return OpenApiTypes.OBJECT
        return None

    def get_response_serializers(self):
        return OpenApiTypes.OBJECT

    def get_operation_id(self):
        # Path-derived ids collide for /clients and /clients/{client}; the view names do not.
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("View"))
        name = name.lower()
        # An alias route (Sensu's /incidents for /events) gets its own id.
        segment = self.path.strip("/").split("/")[0].replace("-", "_")
        if segment and segment.rstrip("s") not in name:
            name = f"{segment}_{name}"
        # A parameter inside a segment (apipie's /apidoc/v2.{language}.json) is a variant of
        # the route without it: its name tells them apart.
        for part in self.path.strip("/").split("/"):
            if not re.fullmatch(r"\{\w+\}", part):
                name += "".join(f"_{param}" for param in re.findall(r"\{(\w+)\}", part))
        return f"{name}_{self.method.lower()}"
