"""
Retraced's viewer API (`/viewer/v1`), which the embeddable logs viewer calls from the
vendor's own pages (CORS): the session exchange, the group's enterprise tokens and its saved
exports. A session reaches its own group only; a path naming another project is a 404.
The searching routes (GraphQL, the CSV download) are in audits.retraced.search_api.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response

from audits.models import RetracedEnterpriseToken, RetracedSavedExport
from audits.retraced.authentication import (
    IsViewerSession,
    ViewerSession,
    ViewerSessionAuthentication,
)
from audits.retraced.base import RetracedAPIView
from audits.retraced.fields import ExportTimeField
from audits.retraced.viewer_selectors import (
    GROUP_LIST_MAX,
    enterprise_token_credential,
    enterprise_token_of_group,
    enterprise_tokens_of_group,
    saved_export_of_group,
    saved_exports_of_group,
)
from audits.retraced.viewer_services import (
    ViewerTokenInvalid,
    enterprise_token_create,
    enterprise_token_delete,
    enterprise_token_update,
    saved_export_create,
    saved_export_update,
    viewer_access_record,
    viewer_session_create,
)
from integration_site.client_ip import client_ip
from integration_site.fields import StrictCharField

NAME_MAX = 255
SEARCH_QUERY_MAX = 2000


class Unauthorized(exceptions.APIException):
    """A 401 on a route with no authentication class (DRF would turn its 401s into 403s)."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "Unauthorized"
    default_code = "not_authenticated"


class ViewerAPIView(RetracedAPIView):
    """A viewer route: CORS for the widget, and the viewer session as the credential."""

    cors = True
    authentication_classes = [ViewerSessionAuthentication]
    permission_classes = [IsViewerSession]

    def session(self, request) -> ViewerSession:
        """The request's session, which must be the path's project's."""
        session: ViewerSession = request.user
        project_id = self.kwargs.get("project_id")
        if project_id is not None and project_id != session.project:
            raise exceptions.NotFound("Not found")
        return session

    @staticmethod
    def saved_export(session: ViewerSession, export_id: str) -> RetracedSavedExport:
        """The session's group's saved export; another group's is as absent as none."""
        export = saved_export_of_group(
            export_id=export_id,
            project=session.project,
            environment=session.environment,
            group_id=session.group_id,
        )
        if export is None:
            raise exceptions.NotFound("Not found")
        return export


# --- The session ---------------------------------------------------------------------------


class ViewerSessionBody(serializers.Serializer):
    token = StrictCharField(max_length=NAME_MAX)


SESSION_BODY = {
    "type": "object",
    "properties": {"project_id": {"type": "string"}, "token": {"type": "string"}},
    "required": ["project_id", "token"],
}


class ViewerSessionView(RetracedAPIView):
    """`POST /viewer/v1/viewersession`: a fresh viewer token for a session JWT."""

    cors = True
    # The viewer token in the body is the credential: it is checked below.
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="retraced_viewer_session_create",
        request=ViewerSessionBody,
        responses={
            200: OpenApiResponse(SESSION_BODY, description="The session"),
            401: OpenApiResponse(
                {"type": "object", "additionalProperties": {}},
                description="Unknown viewer token, or older than RETRACED_VIEWER_TOKEN_SECONDS",
            ),
        },
        auth=[],
    )
    def post(self, request):
        body = ViewerSessionBody(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            project, session = viewer_session_create(
                token=body.validated_data["token"], ip=client_ip(request) or None
            )
        except ViewerTokenInvalid:
            raise Unauthorized(
                "Unauthorized: unknown viewer token, or one older than the exchange window."
            ) from None
        return Response({"project_id": project, "token": session})


# --- Enterprise tokens, as the group's viewer manages them --------------------------------

EITAPI_TOKEN = {
    "type": "object",
    "properties": {
        "id": {
            "type": "string",
            "description": "The credential (`Authorization: token=<id>`), as Retraced answers "
            "it; `unreadable-<public_id>` when `secret_readable` is false.",
        },
        "public_id": {"type": "string", "description": "The id the audit trail records."},
        "secret_readable": {
            "type": "boolean",
            "description": "False: the secret cannot be decrypted (DJANGO_SECRET_KEY changed, "
            "or the token predates stored secrets); `id` is then `unreadable-<public_id>`, "
            "which still renames or deletes the token but does not authenticate.",
        },
        "display_name": {"type": "string"},
        "project_id": {"type": "string"},
        "environment_id": {"type": "string"},
        "group_id": {"type": "string"},
        "view_log_action": {"type": "string"},
    },
    "required": [
        "id",
        "public_id",
        "secret_readable",
        "display_name",
        "project_id",
        "environment_id",
        "group_id",
        "view_log_action",
    ],
}


def eitapi_token_body(token: RetracedEnterpriseToken) -> dict:
    # Retraced's logs viewer lists and copies `.id`: it must be the working credential.
    credential = enterprise_token_credential(token)
    return {
        "id": credential.value,
        "public_id": token.id,
        "secret_readable": credential.readable,
        "display_name": token.display_name,
        "project_id": token.project,
        "environment_id": token.environment,
        "group_id": token.group_id,
        "view_log_action": token.view_log_action,
    }


class EitapiTokenBody(serializers.Serializer):
    displayName = StrictCharField(max_length=NAME_MAX)  # Retraced's key


class EitapiTokensView(ViewerAPIView):
    """`GET /viewer/v1/project/<pid>/eitapi_tokens`: the group's enterprise tokens."""

    @extend_schema(
        operation_id="retraced_viewer_eitapi_tokens_list",
        responses={200: {"type": "array", "items": EITAPI_TOKEN}},
    )
    def get(self, request, project_id: str):
        session = self.session(request)
        tokens = enterprise_tokens_of_group(
            project=session.project, environment=session.environment, group_id=session.group_id
        )
        body = [eitapi_token_body(t) for t in tokens]
        viewer_access_record(
            session,
            action="eitapi_tokens.list",
            crud="r",
            description="Listed Enterprise IT Integration API Tokens",
        )
        return Response(body)


class EitapiTokenCreateView(ViewerAPIView):
    """`POST /viewer/v1/project/<pid>/eitapi_token` `{displayName}`."""

    @extend_schema(
        operation_id="retraced_viewer_eitapi_token_create",
        request=EitapiTokenBody,
        responses={201: OpenApiResponse(EITAPI_TOKEN, description="Created")},
        description="A new enterprise token for the session's group; `id` is its credential.",
    )
    def post(self, request, project_id: str):
        session = self.session(request)
        body = EitapiTokenBody(data=request.data)
        body.is_valid(raise_exception=True)
        token, _secret = enterprise_token_create(
            project=session.project,
            environment=session.environment,
            group_id=session.group_id,
            display_name=body.validated_data["displayName"],
            view_log_action=session.view_log_action,
        )
        viewer_access_record(
            session,
            action="eitapi_token.create",
            crud="c",
            description="Created an Enterprise IT Integration API Token",
            target_id=token.id,
        )
        return Response(eitapi_token_body(token), status=201)


class EitapiTokenView(ViewerAPIView):
    """
    `PUT|DELETE /viewer/v1/project/<pid>/eitapi_token/<id>`: rename or delete. The path names
    the token by its secret (the listed `id`) or its public id; the trail records the public
    id only.
    """

    def _token(self, session: ViewerSession, token_id: str) -> RetracedEnterpriseToken:
        token = enterprise_token_of_group(
            token_id=token_id,
            project=session.project,
            environment=session.environment,
            group_id=session.group_id,
        )
        if token is None:
            raise exceptions.NotFound("Not found")
        return token

    @extend_schema(
        operation_id="retraced_viewer_eitapi_token_update",
        request=EitapiTokenBody,
        responses={200: EITAPI_TOKEN},
    )
    def put(self, request, project_id: str, token_id: str):
        session = self.session(request)
        body = EitapiTokenBody(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["displayName"]
        token = enterprise_token_update(token=self._token(session, token_id), display_name=name)
        viewer_access_record(
            session,
            action="eitapi_token.update",
            crud="u",
            description="Updated an Enterprise IT Integration API Token",
            target_id=token.id,
            fields={"displayName": name},
        )
        return Response(eitapi_token_body(token))

    @extend_schema(operation_id="retraced_viewer_eitapi_token_delete", responses={204: None})
    def delete(self, request, project_id: str, token_id: str):
        session = self.session(request)
        token = self._token(session, token_id)
        # Read before the delete, which clears the instance's pk; never the path's token_id,
        # which may be the secret.
        public_id = token.id
        enterprise_token_delete(token=token)
        viewer_access_record(
            session,
            action="eitapi_token.delete",
            crud="d",
            description="Deleted an Enterprise IT Integration API Token",
            target_id=public_id,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Saved exports -----------------------------------------------------------------------


class ExportBody(serializers.Serializer):
    """Retraced's query descriptor, version 1."""

    version = serializers.ChoiceField(choices=[1])
    searchQuery = StrictCharField(  # Retraced's camelCase keys
        max_length=SEARCH_QUERY_MAX, allow_blank=True, required=False, default=""
    )
    showCreate = serializers.BooleanField(required=False, default=True)
    showRead = serializers.BooleanField(required=False, default=False)
    showUpdate = serializers.BooleanField(required=False, default=True)
    showDelete = serializers.BooleanField(required=False, default=True)
    startTime = ExportTimeField(required=False)
    endTime = ExportTimeField(required=False)


class ExportCreateBody(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX)
    exportBody = ExportBody()  # Retraced's key


class ExportUpdateBody(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX, required=False)
    exportBody = ExportBody()


SAVED_EXPORT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "body": {"type": "object", "additionalProperties": {}},
        "version": {"type": "integer"},
        "saved_at": {"type": "string", "format": "date-time"},
        "project_id": {"type": "string"},
        "environment_id": {"type": "string"},
        "group_id": {"type": "string"},
    },
    "required": ["id", "name", "body"],
}


def saved_export_body(export: RetracedSavedExport) -> dict:
    return {
        "id": export.id,
        "name": export.name,
        "body": export.body,
        "version": export.version,
        "saved_at": export.saved_at.isoformat(),
        "project_id": export.project,
        "environment_id": export.environment,
        "group_id": export.group_id,
    }


class ExportsQuery(serializers.Serializer):
    # logs-viewer sends `limit=` (empty) when it wants them all.
    limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=GROUP_LIST_MAX
    )

    def to_internal_value(self, data):
        if data.get("limit") == "":
            data = {k: v for k, v in data.items() if k != "limit"}
        return super().to_internal_value(data)


class ExportsView(ViewerAPIView):
    """`GET /viewer/v1/project/<pid>/exports?limit=`: the group's saved exports, newest first."""

    @extend_schema(
        operation_id="retraced_viewer_exports_list",
        parameters=[ExportsQuery],
        responses={200: {"type": "array", "items": SAVED_EXPORT}},
    )
    def get(self, request, project_id: str):
        session = self.session(request)
        query = ExportsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        exports = saved_exports_of_group(
            project=session.project,
            environment=session.environment,
            group_id=session.group_id,
            limit=query.validated_data.get("limit"),
        )
        return Response([saved_export_body(e) for e in exports])


class ExportCreateView(ViewerAPIView):
    """`POST /viewer/v1/project/<pid>/export` `{name, exportBody}`."""

    @extend_schema(
        operation_id="retraced_viewer_export_create",
        request=ExportCreateBody,
        responses={201: OpenApiResponse(SAVED_EXPORT, description="Created")},
    )
    def post(self, request, project_id: str):
        session = self.session(request)
        body = ExportCreateBody(data=request.data)
        body.is_valid(raise_exception=True)
        export = saved_export_create(
            session=session,
            name=body.validated_data["name"],
            body=dict(body.validated_data["exportBody"]),
        )
        return Response(saved_export_body(export), status=status.HTTP_201_CREATED)


class ExportView(ViewerAPIView):
    """`PUT /viewer/v1/project/<pid>/export/<id>` `{exportBody, name?}`."""

    @extend_schema(
        operation_id="retraced_viewer_export_update",
        request=ExportUpdateBody,
        responses={204: None},
    )
    def put(self, request, project_id: str, export_id: str):
        session = self.session(request)
        body = ExportUpdateBody(data=request.data)
        body.is_valid(raise_exception=True)
        export = self.saved_export(session, export_id)
        saved_export_update(
            export=export,
            body=dict(body.validated_data["exportBody"]),
            name=body.validated_data.get("name"),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
