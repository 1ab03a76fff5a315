"""
The routes of the viewer and Enterprise IT APIs that read events: GraphQL search over the
credential's group, the saved export's CSV, and the enterprise active search's pages. Each
records the reading in the group's own log, as Retraced does.
"""

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from audits.retraced.authentication import ViewerSession
from audits.retraced.csv_export import csv_lines, export_filename, saved_export_events
from audits.retraced.enterprise_api import ActiveSearchView, EnterpriseAPIView
from audits.retraced.graphql import event_node
from audits.retraced.graphql_views import (
    GET_PARAMETERS,
    GRAPHQL_REQUEST,
    GRAPHQL_RESPONSES,
    GraphQLRequestMixin,
)
from audits.retraced.search import SearchScope
from audits.retraced.viewer_api import ViewerAPIView
from audits.retraced.viewer_selectors import (
    ACTIVE_SEARCH_PAGE_DEFAULT,
    ACTIVE_SEARCH_PAGE_MAX,
    active_search_page,
)
from audits.retraced.viewer_services import (
    enterprise_access_record,
    enterprise_active_search_advance,
    viewer_access_record,
)
from audits.search.errors import QueryError
from integration_site.replicas import replica_reads

TRUNCATED_HEADER = "X-Retraced-Export-Truncated"


SKIP_VIEW_LOG_EVENT = OpenApiParameter(
    "skipViewLogEvent",
    OpenApiTypes.STR,
    description="Any value: do not record this search as the viewer's `view_log_action`.",
)
VIEWER_DESCRIPTION = (
    "Retraced's GraphQL search over the viewer session's group (and target, when the viewer "
    "token named one), reads hidden unless the query names a crud. Records the session's "
    "`view_log_action` unless `skipViewLogEvent` is given."
)


class ViewerGraphQLView(GraphQLRequestMixin, ViewerAPIView):
    """`POST|GET /viewer/v1/graphql[?skipViewLogEvent=true]`: what the widget searches with."""

    def graphql_scope(self, request) -> SearchScope:
        session: ViewerSession = self.session(request)
        return SearchScope(
            project=session.project,
            environment=session.environment,
            group_id=session.group_id,
            target_id=session.target_id or None,
            hide_reads=True,
        )

    def graphql_ran(self, request, status: int) -> None:
        # Retraced records a view whenever the flag is absent; a failed query showed nothing.
        if status != 200 or request.query_params.get("skipViewLogEvent"):
            return
        session: ViewerSession = request.user
        viewer_access_record(
            session,
            action=session.view_log_action,
            crud="r",
            description="Viewed the audit log",
            target_id=session.target_id,
        )

    @extend_schema(
        operation_id="retraced_viewer_graphql_get",
        description=VIEWER_DESCRIPTION,
        parameters=[*GET_PARAMETERS, SKIP_VIEW_LOG_EVENT],
        responses=GRAPHQL_RESPONSES,
    )
    def get(self, request):
        return super().get(request)

    @extend_schema(
        operation_id="retraced_viewer_graphql_post",
        description=VIEWER_DESCRIPTION,
        parameters=[SKIP_VIEW_LOG_EVENT],
        request={"application/json": GRAPHQL_REQUEST},
        responses=GRAPHQL_RESPONSES,
    )
    def post(self, request):
        return super().post(request)


class SavedExportRenderQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv"], required=False, default="csv")
    jwt = serializers.CharField(required=False, help_text="The viewer session, for old viewers")


class RenderedExportNegotiation(DefaultContentNegotiation):
    """
    The CSV is streamed as it is, not through a renderer: `?format=csv` names the export's
    format (DRF would look for a `csv` renderer and 404) and logs-viewer's `Accept: text/csv`
    must not be a 406. Errors are JSON.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SavedExportRenderView(ViewerAPIView):
    """
    `GET /viewer/v1/project/<pid>/export/<id>/rendered?format=csv`: the export's CSV, as an
    attachment. The session may come as `?jwt=` (older viewers open it as a link).
    """

    jwt_in_query = True
    content_negotiation_class = RenderedExportNegotiation

    @extend_schema(
        operation_id="retraced_viewer_export_render",
        parameters=[SavedExportRenderQuery],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description=f"The CSV, newest first; at most RETRACED_EXPORT_MAX_ROWS rows, "
                f"and {TRUNCATED_HEADER} names that cap when more matched",
            ),
            404: OpenApiResponse(
                {"type": "object", "additionalProperties": {}},
                description='No such export in the group, or `{"error": "No results found"}`',
            ),
        },
    )
    def get(self, request, project_id: str, export_id: str):
        session = self.session(request)
        query = SavedExportRenderQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        # The saved export itself is read on the primary: the viewer may have saved it a
        # moment ago. Its events may come from a replica (integration_site.replicas), the
        # streamed CSV included.
        export = self.saved_export(session, export_id)
        try:
            events = saved_export_events(export, session)
        except QueryError as error:
            raise exceptions.ValidationError({"searchQuery": [error.message]}) from None
        with replica_reads():
            events = events.using(events.db)
            if not events.exists():
                # Retraced's own body for an empty export, not its error format.
                return JsonResponse({"error": "No results found"}, status=404)
            cap = settings.RETRACED_EXPORT_MAX_ROWS
            truncated = events[cap : cap + 1].exists()
        viewer_access_record(
            session,
            action=session.view_log_action,
            crud="r",
            description=f"Exported the audit log ({export.name})",
            target_id=session.target_id,
        )
        response = StreamingHttpResponse(
            csv_lines(events[:cap]), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=export_filename(export.name)
        )
        if truncated:
            response[TRUNCATED_HEADER] = str(cap)
        return response


ENTERPRISE_DESCRIPTION = (
    "Retraced's GraphQL search over the enterprise token's group, reads included. Each use "
    "is recorded as the token's `view_log_action`."
)


class EnterpriseGraphQLView(GraphQLRequestMixin, EnterpriseAPIView):
    """`POST|GET /enterprise/v1/graphql`: a SIEM's search of its own group."""

    def graphql_scope(self, request) -> SearchScope:
        token = self.token(request)
        return SearchScope(
            project=token.project, environment=token.environment, group_id=token.group_id
        )

    def graphql_ran(self, request, status: int) -> None:
        if status == 200:
            enterprise_access_record(self.token(request), description="Exported audit log events")

    @extend_schema(
        operation_id="retraced_enterprise_graphql_get",
        description=ENTERPRISE_DESCRIPTION,
        parameters=GET_PARAMETERS,
        responses=GRAPHQL_RESPONSES,
    )
    def get(self, request):
        return super().get(request)

    @extend_schema(
        operation_id="retraced_enterprise_graphql_post",
        description=ENTERPRISE_DESCRIPTION,
        request={"application/json": GRAPHQL_REQUEST},
        responses=GRAPHQL_RESPONSES,
    )
    def post(self, request):
        return super().post(request)


class ActiveSearchQuery(serializers.Serializer):
    next = serializers.CharField(required=False, max_length=64)
    page_size = serializers.IntegerField(
        required=False, min_value=1, default=ACTIVE_SEARCH_PAGE_DEFAULT
    )


ACTIVE_SEARCH_PAGE = {
    "type": "object",
    "properties": {
        "events": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
        "next": {"type": "string"},
    },
    "required": ["events"],
}


class ActiveSearchPageView(ActiveSearchView):
    """
    `GET /enterprise/v1/search/active/<id>?next=&page_size=`: the next page, oldest first;
    `next` resumes after the page it came with. DELETE drops the cursor.
    """

    @extend_schema(
        operation_id="retraced_enterprise_active_search_get",
        parameters=[ActiveSearchQuery],
        responses={200: ACTIVE_SEARCH_PAGE},
    )
    def get(self, request, active_search_id: str):
        query = ActiveSearchQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        active = self.active_search(request, active_search_id)
        next_token = query.validated_data.get("next")
        if next_token is not None and next_token != active.next_token:
            raise exceptions.NotFound(f"No such 'next' token: {next_token}")
        events = active_search_page(
            active=active,
            token=self.token(request),
            # Retraced caps the page rather than refusing a larger one.
            page_size=min(query.validated_data["page_size"], ACTIVE_SEARCH_PAGE_MAX),
            resume=next_token is not None,
        )
        body: dict = {"events": [event_node(event) for event in events]}
        if events:
            body["next"] = enterprise_active_search_advance(active=active, last_event=events[-1])
        enterprise_access_record(
            self.token(request), description=f"{request.method} {request.get_full_path()}"
        )
        return Response(body)
