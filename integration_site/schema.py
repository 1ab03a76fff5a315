"""OpenAPI: descriptions of our authentication classes, and the schema for peer-shaped views."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes


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


class PeerShapedSchema(AutoSchema):
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
        return f"{name}_{self.method.lower()}"
