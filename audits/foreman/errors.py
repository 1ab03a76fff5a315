"""
Foreman's error bodies: `{"error": {"message", "class"?}}`, `{"message"}` for a 404, and a bad
`search` or `order` as 400 with the scoped_search exception class. Every response also
carries the apidoc's checksum, which apypie watches.
"""

from rest_framework import exceptions

from audits.foreman.apipie import apidoc_checksum
from audits.search.errors import QueryError

QUERY_ERROR_CLASS = "ScopedSearch::QueryNotSupported"


class ScopedSearchError(exceptions.APIException):
    """A bad `search` or `order`: Foreman answers 400 with the scoped_search exception class."""

    status_code = 400
    default_code = "query_not_supported"


class ForemanErrorMixin:
    """Foreman's error bodies: `{"error": {"message", "class"?}}`, and `{"message"}` for 404."""

    def format_error(self, body: dict, status: int) -> dict:
        if status == 404:
            return {"message": body["message"]}
        error = {"message": body["message"]}
        if body.get("code") == ScopedSearchError.default_code:
            error["class"] = QUERY_ERROR_CLASS
        elif status == 400:
            error["class"] = "ActionController::ParameterMissing"
            if body.get("errors"):
                error["errors"] = body["errors"]
        return {"error": error}

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # apypie drops its cached apidoc when this differs from the copy it holds.
        response["Apipie-Checksum"] = apidoc_checksum()
        return response


def query_error(exc: QueryError) -> ScopedSearchError:
    return ScopedSearchError(exc.message)
