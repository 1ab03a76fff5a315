"""
What every Retraced route shares: Retraced's error body `{"status", "type", "error"}` (plus
`invalid` for a rejected batch), the `X-Retraced-RequestId` header, and, on the routes the
widget calls from the vendor's own pages, Retraced's wide-open CORS.
"""

from django.conf import settings
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from audits.models import DEFAULT_ENVIRONMENT_ID, DEFAULT_PROJECT_ID


def retraced_url_prefix() -> str:
    """
    Where the Retraced routes are mounted: `""` (the site's root, the default) or, for
    RETRACED_URL_PREFIX=auditlog, `"auditlog/"`, so a client keeps an endpoint that ends in
    Retraced's usual `/auditlog`.
    """
    return f"{settings.RETRACED_URL_PREFIX}/" if settings.RETRACED_URL_PREFIX else ""


CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, X-Requested-With",
    # logs-viewer reads the CSV's file name from Content-Disposition; a CSV cut at
    # RETRACED_EXPORT_MAX_ROWS says so in X-Retraced-Export-Truncated.
    "Access-Control-Expose-Headers": (
        "Content-Disposition, X-Retraced-RequestId, X-Retraced-Export-Truncated"
    ),
    "Access-Control-Max-Age": "600",
}


class InvalidInputs(exceptions.ValidationError):
    """
    Retraced's 400 for a rejected batch: `message` is the error, `invalid` the list of
    `{index, message, violations: [{field, message, violation}]}` Retraced answers.
    """

    def __init__(self, message: str, invalid: list[dict]):
        super().__init__(message)
        self.invalid = invalid


class RetracedAPIView(APIView):
    """
    A Retraced route. `cors = True` on routes a browser calls cross-origin (the viewer API):
    a preflight OPTIONS is answered 204 before authentication, as Retraced does, and every
    answer carries the CORS headers. Credentials travel in the Authorization header, never
    cookies, so the wide-open origin grants a page nothing its token does not.
    """

    cors = False

    def handle_exception(self, exc):
        # A rejected batch's per-event list (InvalidInputs) becomes the body's `invalid`.
        self.invalid_inputs = getattr(exc, "invalid", None)
        return super().handle_exception(exc)

    def format_error(self, body: dict, status: int) -> dict:
        error = {"status": status, "type": "Error", "error": body["message"]}
        invalid = getattr(self, "invalid_inputs", None)
        if invalid is not None:
            error["invalid"] = invalid
        elif body.get("errors"):
            error["invalid"] = body["errors"]
        return error

    def initial(self, request, *args, **kwargs):
        if self.cors and request.method == "OPTIONS":
            return  # a preflight carries no credentials; `options` answers it
        super().initial(request, *args, **kwargs)

    def options(self, request, *args, **kwargs):
        if self.cors:
            return HttpResponse(status=204)
        return super().options(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Retraced-RequestId"] = getattr(request, "request_id", "")
        if self.cors:
            for name, value in CORS_HEADERS.items():
                response[name] = value
        return response


class PublisherAPIView(RetracedAPIView):
    """
    A publisher route under `/publisher/v1/project/<project_id>/`. An API token acts only in
    its own project (Retraced answers 401 for a key used on another project's path); a user
    (HTTP Basic, the admin session) holding the scope acts in any project.
    """

    def check_permissions(self, request):
        super().check_permissions(request)
        project_id = self.kwargs.get("project_id")
        token_project = publisher_token_project(request)
        if project_id is not None and token_project is not None and token_project != project_id:
            raise exceptions.AuthenticationFailed(
                f"This API token belongs to project {token_project!r}, not {project_id!r}."
            )

    def tenancy(self, request) -> tuple[str, str]:
        """The (project, environment) this request acts in: the token's, else the path's."""
        token = getattr(request.user, "token", None)
        if token is not None:
            return token.project, token.environment
        return self.kwargs.get("project_id") or DEFAULT_PROJECT_ID, DEFAULT_ENVIRONMENT_ID


def publisher_token_project(request) -> str | None:
    token = getattr(request.user, "token", None)
    return None if token is None else token.project
