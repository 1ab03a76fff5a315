"""
Retraced's Enterprise IT API (`/enterprise/v1`): a customer's SIEM, holding an enterprise
token, reads its own group's events, through GraphQL (audits.retraced.search_api) or
persistent cursors: a saved search, an active search over it, pages pulled oldest first.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from audits.models import RetracedEnterpriseActiveSearch, RetracedEnterpriseToken
from audits.retraced.authentication import (
    EnterpriseTokenAuthentication,
    IsEnterpriseToken,
)
from audits.retraced.base import RetracedAPIView
from audits.retraced.fields import IsoTimeField
from audits.retraced.viewer_selectors import (
    active_search_of_token,
    saved_search_of_token,
)
from audits.retraced.viewer_services import (
    enterprise_active_search_create,
    enterprise_active_search_delete,
    enterprise_saved_search_create,
)
from integration_site.fields import StrictCharField

ID_MAX = 255
# Actions or actor ids one saved search may name.
SAVED_SEARCH_TERMS_MAX = 100


class EnterpriseAPIView(RetracedAPIView):
    authentication_classes = [EnterpriseTokenAuthentication]
    permission_classes = [IsEnterpriseToken]

    def token(self, request) -> RetracedEnterpriseToken:
        return request.user.token

    def active_search(self, request, active_search_id: str) -> RetracedEnterpriseActiveSearch:
        active = active_search_of_token(
            active_search_id=active_search_id, token=self.token(request)
        )
        if active is None:
            raise exceptions.NotFound(f"Active search not found (id={active_search_id})")
        return active


class SavedSearchBody(serializers.Serializer):
    name = StrictCharField(max_length=ID_MAX)
    actions = serializers.ListField(
        child=StrictCharField(max_length=ID_MAX),
        required=False,
        default=list,
        max_length=SAVED_SEARCH_TERMS_MAX,
    )
    actor_ids = serializers.ListField(
        child=StrictCharField(max_length=ID_MAX),
        required=False,
        default=list,
        max_length=SAVED_SEARCH_TERMS_MAX,
    )
    start = IsoTimeField(required=False)


class ActiveSearchBody(serializers.Serializer):
    saved_search_id = StrictCharField(max_length=ID_MAX)


ID_BODY = {
    "type": "object",
    "properties": {"id": {"type": "string"}},
    "required": ["id"],
}


class SavedSearchCreateView(EnterpriseAPIView):
    """`POST /enterprise/v1/search/saved` `{name, actions?, actor_ids?, start?}`."""

    @extend_schema(
        operation_id="retraced_enterprise_saved_search_create",
        request=SavedSearchBody,
        responses={201: OpenApiResponse(ID_BODY, description="Created")},
    )
    def post(self, request):
        body = SavedSearchBody(data=request.data)
        body.is_valid(raise_exception=True)
        saved = enterprise_saved_search_create(
            token=self.token(request),
            name=body.validated_data["name"],
            actions=body.validated_data["actions"],
            actor_ids=body.validated_data["actor_ids"],
            start=body.validated_data.get("start"),
        )
        return Response({"id": saved.id}, status=status.HTTP_201_CREATED)


class ActiveSearchCreateView(EnterpriseAPIView):
    """`POST /enterprise/v1/search/active` `{saved_search_id}`: a cursor at its start."""

    @extend_schema(
        operation_id="retraced_enterprise_active_search_create",
        request=ActiveSearchBody,
        responses={
            201: OpenApiResponse(ID_BODY, description="Created"),
            404: OpenApiResponse(
                {"type": "object", "additionalProperties": {}},
                description="No such saved search in the token's group",
            ),
        },
    )
    def post(self, request):
        body = ActiveSearchBody(data=request.data)
        body.is_valid(raise_exception=True)
        saved_search_id = body.validated_data["saved_search_id"]
        token = self.token(request)
        saved = saved_search_of_token(saved_search_id=saved_search_id, token=token)
        if saved is None:
            raise exceptions.NotFound(f"Saved search not found (id={saved_search_id})")
        active = enterprise_active_search_create(token=token, saved_search=saved)
        return Response({"id": active.id}, status=status.HTTP_201_CREATED)


class ActiveSearchView(EnterpriseAPIView):
    """`/enterprise/v1/search/active/<id>`: pull the next page, or drop the cursor."""

    @extend_schema(operation_id="retraced_enterprise_active_search_delete", responses={204: None})
    def delete(self, request, active_search_id: str):
        enterprise_active_search_delete(active=self.active_search(request, active_search_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
