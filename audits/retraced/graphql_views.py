"""
The publisher's GraphQL routes, `POST|GET /publisher/v1/project/<project_id>/graphql` and
`/publisher/v1/graphql`: a search over the token's project and environment, every group.
"""

from typing import Any

from django.conf import settings
from django.db import router
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from audits.models import AuditEvent
from audits.retraced.base import PublisherAPIView
from audits.retraced.graphql import MAX_DOCUMENT_CHARS, SearchScope, graphql_execute
from integration_site.db_limits import SlowReadRefused, slow_read
from integration_site.parsers import json_parse
from integration_site.replicas import ReplicaReadsMixin
from integration_site.schema import NOT_BLANK
from integration_site.scopes import Scope

GRAPHQL_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "pattern": NOT_BLANK,
            "maxLength": MAX_DOCUMENT_CHARS,
            "description": "The GraphQL document.",
        },
        "variables": {"type": "object", "additionalProperties": {}, "nullable": True},
        "operationName": {"type": "string", "nullable": True},
    },
    "required": ["query"],
}
GRAPHQL_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {"data": {"type": "object", "additionalProperties": {}, "nullable": True}},
    "required": ["data"],
}
GRAPHQL_ERRORS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {},
    "description": 'A GraphQL error, `{"errors": [{"message", ...}], "data"?}`, or '
    'Retraced\'s error body `{"status", "type", "error"}` for a request refused before '
    "GraphQL ran.",
}
GRAPHQL_RESPONSES = {
    200: OpenApiResponse(GRAPHQL_RESULT, description="The query's `data`"),
    400: OpenApiResponse(GRAPHQL_ERRORS, description="The query failed: `errors` says why"),
    429: OpenApiResponse(
        GRAPHQL_ERRORS,
        description="Another slow search of the same scope was running, or the search ran "
        "past RETRACED_SEARCH_BUDGET_MS (RETRACED_SEARCH_BUSY_BUDGET_MS when every one of "
        "SLOW_SEARCH_SLOTS was taken) while SLOW_SEARCH_SLOTS slow searches were running "
        "on the site; or, behind docs/deploy/nginx.conf, more searches came from this "
        "credential or client address than its rate limit allows. Retry-After says when to "
        "try again",
    ),
}
# Retry-After of a slow search refused a slot: the slow searches it waited on take seconds.
SLOW_SEARCH_RETRY_AFTER_SECONDS = 5
GET_PARAMETERS = [
    OpenApiParameter(
        "query",
        OpenApiTypes.STR,
        required=True,
        pattern=NOT_BLANK,
        description=f"The GraphQL document (at most {MAX_DOCUMENT_CHARS} characters).",
    ),
    OpenApiParameter("variables", OpenApiTypes.STR, description="A JSON object."),
    OpenApiParameter("operationName", OpenApiTypes.STR),
]
DESCRIPTION = (
    "Retraced's GraphQL schema (`search(query, first, after, last, before)`), over the API "
    "token's project and environment. Answers 400 with `errors` when the query fails."
)


class GraphQLRequestMixin(ReplicaReadsMixin):
    """
    One GraphQL request, as Retraced reads it: GET from the query string, POST from a JSON
    body (each key falling back to the query string), run in the view's `graphql_scope`.
    The publisher, viewer and enterprise routes differ only in that scope and in
    `graphql_ran`, which records the reading where the peer does.

    The search may read a replica (integration_site.replicas), on POST too: the schema has
    no mutation, and `graphql_ran` writes only after the query ran.
    """

    replica_read_methods = ("GET", "HEAD", "POST")

    def graphql_scope(self, request) -> SearchScope:
        raise NotImplementedError

    def graphql_ran(self, request, status: int) -> None:
        """Called once the query ran (status 200, or 400 with `errors`)."""

    def get(self, request, *args, **kwargs):
        params = request.query_params
        variables = params.get("variables")
        return self._execute(
            request,
            query=params.get("query"),
            variables=json_parse(variables) if variables else None,
            operation_name=params.get("operationName"),
        )

    def post(self, request, *args, **kwargs):
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ParseError("The body must be a JSON object with `query`.")
        # Retraced reads each of these from the body, else from the query string.
        params = request.query_params
        return self._execute(
            request,
            query=body.get("query") or params.get("query"),
            variables=body.get("variables"),
            operation_name=body.get("operationName") or params.get("operationName"),
        )

    def _execute(self, request, *, query, variables, operation_name) -> Response:
        scope = self.graphql_scope(request)

        def run() -> tuple[dict, int]:
            return graphql_execute(
                query=query, variables=variables, operation_name=operation_name, scope=scope
            )

        try:
            # A search is cheap until a scope is big (an exact totalCount over millions of a
            # group's events takes seconds): then it waits for a slot, and is refused rather
            # than queued, so a flood of them cannot hold every worker and the database.
            body, status = slow_read(
                run,
                using=router.db_for_read(AuditEvent),
                key=f"retraced-search:{scope.slot_key}",
                budget_ms=settings.RETRACED_SEARCH_BUDGET_MS,
                busy_budget_ms=settings.RETRACED_SEARCH_BUSY_BUDGET_MS,
                slots=settings.SLOW_SEARCH_SLOTS,
            )
        except SlowReadRefused as refused:
            detail = (
                "A slow search of the same scope (one that ran past "
                f"{settings.RETRACED_SEARCH_BUDGET_MS} ms) is running; retry when it has finished."
                if refused.of_key
                else f"This search ran past {refused.budget_ms} ms and "
                f"{settings.SLOW_SEARCH_SLOTS} slow searches are running on this site; "
                "retry when one has finished."
            )
            raise exceptions.Throttled(
                wait=SLOW_SEARCH_RETRY_AFTER_SECONDS, detail=detail
            ) from refused
        self.graphql_ran(request, status)
        return Response(body, status=status)


class PublisherGraphQLView(GraphQLRequestMixin, PublisherAPIView):
    required_scopes = {"GET": Scope.AUDIT_READ, "POST": Scope.AUDIT_READ}

    def graphql_scope(self, request) -> SearchScope:
        project, environment = self.tenancy(request)
        return SearchScope(project=project, environment=environment)

    @extend_schema(
        summary="Retraced GraphQL search",
        description=DESCRIPTION,
        parameters=GET_PARAMETERS,
        responses=GRAPHQL_RESPONSES,
    )
    def get(self, request, project_id: str | None = None):
        return super().get(request)

    @extend_schema(
        summary="Retraced GraphQL search",
        description=DESCRIPTION,
        request={"application/json": GRAPHQL_REQUEST},
        responses=GRAPHQL_RESPONSES,
    )
    def post(self, request, project_id: str | None = None):
        return super().post(request)
