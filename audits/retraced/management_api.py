"""
The publisher API's management routes (an API token with `audit:read`, in its own project):
viewer tokens for the widget, enterprise tokens for a group, and the revocation of a
viewer's sessions.
"""

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from audits.models import RetracedEnterpriseToken
from audits.retraced.base import PublisherAPIView
from audits.retraced.viewer_selectors import (
    enterprise_token_credential,
    enterprise_token_of_group,
    enterprise_tokens_of_group,
)
from audits.retraced.viewer_services import (
    enterprise_token_create,
    enterprise_token_delete,
    enterprise_token_update,
    retraced_access_record,
    viewer_sessions_revoke,
    viewer_token_create,
)
from audits.tenancy import environment_get
from integration_site.fields import StrictCharField
from integration_site.scopes import Scope

ID_MAX = 255


class PublisherManagementView(PublisherAPIView):
    required_scopes = {"*": Scope.AUDIT_READ}

    def tenancy(self, request) -> tuple[str, str]:
        for name in ("group_id", "actor_id"):
            if len(self.kwargs.get(name, "")) > ID_MAX:
                raise exceptions.ValidationError({name: [f"At most {ID_MAX} characters."]})
        project, environment = super().tenancy(request)
        # A user (not a token) may name any project in the path: it must exist.
        if environment_get(project=project, environment=environment) is None:
            raise exceptions.NotFound(f"No project {project!r} with environment {environment!r}.")
        return project, environment


class ViewerTokenQuery(serializers.Serializer):
    group_id = StrictCharField(required=False, max_length=ID_MAX)
    # Retraced's older name for the group.
    team_id = StrictCharField(required=False, max_length=ID_MAX)
    actor_id = StrictCharField(required=False, max_length=ID_MAX, default="")
    is_admin = serializers.ChoiceField(choices=["true", "false"], required=False, default="false")
    target_id = StrictCharField(required=False, max_length=ID_MAX, default="")
    view_log_action = StrictCharField(required=False, max_length=ID_MAX, default="")

    def validate(self, attrs):
        attrs["group_id"] = attrs.get("group_id") or attrs.get("team_id")
        if not attrs["group_id"]:
            raise serializers.ValidationError("Either group_id or team_id is required.")
        return attrs


TOKEN_BODY = {
    "type": "object",
    "properties": {"token": {"type": "string"}},
    "required": ["token"],
}


class ViewerTokenView(PublisherManagementView):
    """`GET /publisher/v1/project/<pid>/viewertoken`: a viewer token for one group."""

    @extend_schema(
        operation_id="retraced_viewer_token_create",
        parameters=[ViewerTokenQuery],
        responses={201: OpenApiResponse(TOKEN_BODY, description="The viewer token")},
        description=(
            "A viewer token for one group's log (one target's with `target_id`), to be "
            "exchanged for a viewer session within RETRACED_VIEWER_TOKEN_SECONDS."
        ),
    )
    def get(self, request, project_id: str):
        query = ViewerTokenQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        project, environment = self.tenancy(request)
        token = viewer_token_create(
            project=project,
            environment=environment,
            group_id=values["group_id"],
            actor_id=values["actor_id"],
            is_admin=values["is_admin"] == "true",
            target_id=values["target_id"],
            view_log_action=values["view_log_action"],
        )
        return Response({"token": token}, status=status.HTTP_201_CREATED)


class EnterpriseTokenBody(serializers.Serializer):
    display_name = StrictCharField(max_length=ID_MAX)
    view_log_action = StrictCharField(max_length=ID_MAX, required=False, default="")


ENTERPRISE_TOKEN = {
    "type": "object",
    "properties": {
        "token": {
            "type": "string",
            "description": "The credential (`Authorization: token=<token>`), as Retraced "
            "answers it; `unreadable-<id>` when `secret_readable` is false.",
        },
        "id": {"type": "string", "description": "The public id the audit trail records."},
        "secret_readable": {
            "type": "boolean",
            "description": "False: the secret cannot be decrypted (DJANGO_SECRET_KEY changed, "
            "or the token predates stored secrets); `token` is then `unreadable-<id>`, which "
            "still manages the token but does not authenticate.",
        },
        "display_name": {"type": "string"},
        "view_log_action": {"type": "string"},
    },
    "required": ["token", "id", "secret_readable", "display_name", "view_log_action"],
}


def enterprise_token_body(token: RetracedEnterpriseToken) -> dict:
    credential = enterprise_token_credential(token)
    return {
        "token": credential.value,
        "id": token.id,
        "secret_readable": credential.readable,
        "display_name": token.display_name,
        "view_log_action": token.view_log_action,
    }


class EnterpriseTokensView(PublisherManagementView):
    """`/publisher/v1/project/<pid>/group/<gid>/enterprisetoken`: list and create."""

    @extend_schema(
        operation_id="retraced_enterprise_tokens_list",
        responses={200: {"type": "array", "items": ENTERPRISE_TOKEN}},
        description="The group's enterprise tokens, each with its working `token`.",
    )
    def get(self, request, project_id: str, group_id: str):
        project, environment = self.tenancy(request)
        tokens = enterprise_tokens_of_group(
            project=project, environment=environment, group_id=group_id
        )
        return Response([enterprise_token_body(t) for t in tokens])

    @extend_schema(
        operation_id="retraced_enterprise_token_create",
        request=EnterpriseTokenBody,
        responses={201: OpenApiResponse(ENTERPRISE_TOKEN, description="Created")},
        description="A new enterprise token for the group; `token` is its credential.",
    )
    def post(self, request, project_id: str, group_id: str):
        body = EnterpriseTokenBody(data=request.data)
        body.is_valid(raise_exception=True)
        project, environment = self.tenancy(request)
        token, _secret = enterprise_token_create(
            project=project,
            environment=environment,
            group_id=group_id,
            display_name=body.validated_data["display_name"],
            view_log_action=body.validated_data["view_log_action"],
        )
        token_change_record(request, token, action="eitapi_token.create", crud="c")
        return Response(enterprise_token_body(token), status=status.HTTP_201_CREATED)


class EnterpriseTokenView(PublisherManagementView):
    """
    `/publisher/v1/project/<pid>/group/<gid>/enterprisetoken/<token>`: read, rename, delete.
    The path names the token by its secret (Retraced's id) or by its public id.
    """

    def _token(self, request, group_id: str, token_id: str) -> RetracedEnterpriseToken:
        project, environment = self.tenancy(request)
        token = enterprise_token_of_group(
            token_id=token_id, project=project, environment=environment, group_id=group_id
        )
        if token is None:
            raise exceptions.NotFound("Not Found")
        return token

    @extend_schema(
        operation_id="retraced_enterprise_token_get",
        responses={200: ENTERPRISE_TOKEN},
    )
    def get(self, request, project_id: str, group_id: str, token_id: str):
        return Response(enterprise_token_body(self._token(request, group_id, token_id)))

    @extend_schema(
        operation_id="retraced_enterprise_token_update",
        request=EnterpriseTokenBody,
        responses={200: ENTERPRISE_TOKEN},
    )
    def put(self, request, project_id: str, group_id: str, token_id: str):
        body = EnterpriseTokenBody(data=request.data)
        body.is_valid(raise_exception=True)
        token = enterprise_token_update(
            token=self._token(request, group_id, token_id),
            display_name=body.validated_data["display_name"],
            view_log_action=body.validated_data["view_log_action"] or None,
        )
        token_change_record(request, token, action="eitapi_token.update", crud="u")
        return Response(enterprise_token_body(token))

    @extend_schema(
        operation_id="retraced_enterprise_token_delete",
        responses={204: None},
    )
    def delete(self, request, project_id: str, group_id: str, token_id: str):
        token = self._token(request, group_id, token_id)
        with transaction.atomic():
            # Recorded first: the delete clears the instance's pk, the public id recorded.
            token_change_record(request, token, action="eitapi_token.delete", crud="d")
            enterprise_token_delete(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


def publisher_change_record(
    request,
    *,
    project: str,
    environment: str,
    group_id: str,
    action: str,
    crud: str,
    description: str,
    target_id: str,
) -> None:
    """
    A change to a group's credentials through the publisher API, recorded in the group's own
    log as the viewer API's are, the API token (or user) as the actor. A token is named by its
    public id, never its secret.
    """
    retraced_access_record(
        project=project,
        environment=environment,
        group_id=group_id,
        action=action,
        crud=crud,
        actor_id=request.user.get_username(),
        description=description,
        target_id=target_id,
    )


def token_change_record(request, token: RetracedEnterpriseToken, *, action: str, crud: str):
    verb = {"c": "Created", "u": "Updated", "d": "Deleted"}[crud]
    publisher_change_record(
        request,
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
        action=action,
        crud=crud,
        description=f"{verb} an Enterprise IT Integration API Token",
        target_id=token.id,
    )


class ViewerSessionsRevokeView(PublisherManagementView):
    """
    `DELETE /viewer/v1/project/<pid>/group/<gid>/actor/<aid>/viewersessions` (Retraced's path,
    under the viewer prefix but authenticated as the publisher): end that viewer's sessions.
    """

    @extend_schema(
        operation_id="retraced_viewer_sessions_revoke",
        responses={200: OpenApiResponse(description="Revoked (an empty body, as Retraced)")},
    )
    def delete(self, request, project_id: str, group_id: str, actor_id: str):
        project, environment = self.tenancy(request)
        with transaction.atomic():
            viewer_sessions_revoke(
                project=project, environment=environment, group_id=group_id, actor_id=actor_id
            )
            publisher_change_record(
                request,
                project=project,
                environment=environment,
                group_id=group_id,
                action="viewer_sessions.revoke",
                crud="d",
                description=f"Ended the viewer sessions of {actor_id}",
                target_id=actor_id,
            )
        return Response(status=status.HTTP_200_OK)
