"""
Foreman's `/api/bookmarks` (api/v2/bookmarks_controller.rb): list with `search`, `order`,
`page`/`per_page` in the audits API's envelope, show, create and update with
`{"bookmark": {name, controller, query, public}}`, and destroy. A caller sees the public
bookmarks and their own (Foreman's `my_bookmarks`). docs/api-compat.md lists the deviations.
"""

import re

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers
from rest_framework.response import Response

from audits.foreman.apipie import (
    ID_PARAM,
    INDEX_PARAMS,
    apipie_method,
    apipie_param,
    apipie_resource,
)
from audits.foreman.errors import query_error
from audits.foreman.filters import simple_order_by
from audits.foreman.views import ForemanViewSet
from audits.search.compiler import parse
from audits.search.errors import QueryError
from bookmarks.controllers import BOOKMARK_SEARCH_SCHEMA, CONTROLLERS
from bookmarks.models import NAME_MAX_LENGTH, QUERY_MAX_LENGTH, Bookmark
from bookmarks.selectors import bookmark_may_change, bookmarks_visible
from bookmarks.services import bookmark_create, bookmark_delete, bookmark_update
from integration_site.schema import PEER_ERROR_BODY
from integration_site.scopes import Scope

# Foreman's invalid-record answer: {"error": {"id", "errors", "full_messages"}}.
BOOKMARK_INVALID = OpenApiResponse(PEER_ERROR_BODY, description="The bookmark cannot be saved")


class BookmarkInvalid(exceptions.ValidationError):
    """A bookmark that cannot be saved: Foreman answers 422 with the record's errors."""

    status_code = 422


# --- Serializers --------------------------------------------------------------------------


class BookmarkSerializer(serializers.ModelSerializer):
    """Foreman's api/v2/bookmarks/show.json.rabl, keys in its order."""

    owner_id = serializers.SerializerMethodField()
    owner_type = serializers.SerializerMethodField()

    class Meta:
        model = Bookmark
        fields = ["name", "controller", "query", "public", "id", "owner_id", "owner_type"]

    def get_owner_id(self, bookmark: Bookmark) -> int | None:
        return bookmark.owner_id or bookmark.owner_token_id

    def get_owner_type(self, bookmark: Bookmark) -> str | None:
        # Foreman's owners are User or Usergroup; a token-owned bookmark says so.
        if bookmark.owner_id is not None:
            return "User"
        return "ApiToken" if bookmark.owner_token_id is not None else None


def _messages(label: str, **extra: str) -> dict[str, str]:
    # Each message names its field: clients show the flattened list (full_messages).
    return {
        "required": f"{label} can't be blank.",
        "blank": f"{label} can't be blank.",
        "null": f"{label} can't be blank.",
        "invalid": f"{label} must be a string.",
        "max_length": f"{label} is too long (at most {{max_length}} characters).",
        **extra,
    }


class BookmarkParamsSerializer(serializers.Serializer):
    """The `bookmark` object of POST and PUT (Foreman's bookmark_params)."""

    name = serializers.CharField(max_length=NAME_MAX_LENGTH, error_messages=_messages("Name"))
    controller = serializers.CharField(
        max_length=64,
        error_messages=_messages("Controller"),
        help_text=f"One of: {', '.join(CONTROLLERS)}.",
    )
    query = serializers.CharField(
        max_length=QUERY_MAX_LENGTH,
        trim_whitespace=False,
        error_messages=_messages("Query"),
        help_text="The search text, in the scoped-search language of the controller.",
    )
    public = serializers.BooleanField(
        required=False, error_messages={"invalid": "Public must be true or false."}
    )


class BookmarkRequestSerializer(serializers.Serializer):
    """The request body (Foreman also takes the attributes unwrapped)."""

    bookmark = BookmarkParamsSerializer()


# --- Filters ------------------------------------------------------------------------------


class BookmarkFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Bookmark
        fields = ["search"]

    def filter_search(self, queryset, name, value):
        if not value.strip():
            return queryset
        try:
            return queryset.filter(parse(value, BOOKMARK_SEARCH_SCHEMA))
        except QueryError as exc:
            raise query_error(exc) from exc


# --- View ---------------------------------------------------------------------------------

_ID_NAME = re.compile(r"(\d+)(?:-.*)?", re.DOTALL)  # Foreman's to_param: "12-my-search"


class BookmarkViewSet(mixins.RetrieveModelMixin, ForemanViewSet):
    """GET/POST /api/bookmarks, GET/PUT/DELETE /api/bookmarks/:id."""

    queryset = Bookmark.objects.all()
    serializer_class = BookmarkSerializer
    filterset_class = BookmarkFilterSet
    order_by = staticmethod(simple_order_by(BOOKMARK_SEARCH_SCHEMA, ("name", "id")))
    lookup_value_regex = "[^/]+"
    required_scopes = {
        "GET": Scope.AUDIT_READ,
        "POST": Scope.BOOKMARK_WRITE,
        "PUT": Scope.BOOKMARK_WRITE,
        "DELETE": Scope.BOOKMARK_WRITE,
        # Anything else (PATCH, OPTIONS) is for readers: PATCH then answers 405, not 403.
        "*": Scope.AUDIT_READ,
    }
    # The id named in a 422 body (Foreman renders the record's id; null when creating).
    invalid_record_id: int | None = None

    def get_queryset(self):
        return bookmarks_visible(principal=self.request.user)

    def get_object(self) -> Bookmark:
        """By id, by Foreman's `<id>-<name>` parameter, or by name (friendly id)."""
        key = str(self.kwargs["pk"])
        visible = self.get_queryset()
        matched = _ID_NAME.fullmatch(key)
        found = visible.filter(pk=int(matched[1])).first() if matched else None
        if found is None:
            found = visible.filter(name=key).first()
        if found is None:
            raise exceptions.NotFound(f"Resource bookmark not found by id '{key}'")
        return found

    def _changeable(self) -> Bookmark:
        bookmark = self.get_object()
        if not bookmark_may_change(bookmark, self.request.user):
            raise exceptions.PermissionDenied(
                "Only the owner of a saved search (or a superuser) can change or delete it."
            )
        self.invalid_record_id = bookmark.pk
        return bookmark

    def _params(self, *, partial: bool) -> dict:
        data = self.request.data
        if not isinstance(data, dict):
            raise exceptions.ParseError("The request body must be a JSON object.")
        # Rails' wrap_parameters: Foreman accepts the attributes with or without the wrapper.
        params = data.get("bookmark", data)
        if not isinstance(params, dict):
            raise exceptions.ValidationError(
                {"bookmark": ["must be a JSON object of the bookmark's attributes."]}
            )
        serializer = BookmarkParamsSerializer(data=params, partial=partial)
        if not serializer.is_valid():
            raise BookmarkInvalid(serializer.errors)
        return dict(serializer.validated_data)

    @staticmethod
    def _saved(save) -> Bookmark:
        try:
            return save()
        except DjangoValidationError as exc:
            raise BookmarkInvalid(exc.message_dict) from exc

    @extend_schema(
        request=BookmarkRequestSerializer,
        responses={201: BookmarkSerializer, 422: BOOKMARK_INVALID},
    )
    def create(self, request, *args, **kwargs):
        params = self._params(partial=False)
        bookmark = self._saved(lambda: bookmark_create(principal=request.user, **params))
        return Response(BookmarkSerializer(bookmark).data, status=201)

    @extend_schema(
        request=BookmarkRequestSerializer,
        responses={200: BookmarkSerializer, 422: BOOKMARK_INVALID},
    )
    def update(self, request, *args, **kwargs):
        bookmark = self._changeable()
        params = self._params(partial=True)
        bookmark = self._saved(lambda: bookmark_update(bookmark=bookmark, **params))
        return Response(BookmarkSerializer(bookmark).data)

    @extend_schema(responses={200: BookmarkSerializer})
    def destroy(self, request, *args, **kwargs):
        bookmark = self._changeable()
        shown = BookmarkSerializer(bookmark).data
        bookmark_delete(bookmark=bookmark)
        # Foreman answers a destroy with the record as it was.
        return Response(shown)

    def format_error(self, body: dict, status: int) -> dict:
        if status != 422:
            return super().format_error(body, status)
        errors = body.get("errors") or {}
        full_messages = [str(m) for messages in errors.values() for m in _as_list(messages)]
        return {
            "error": {
                "id": self.invalid_record_id,
                "errors": errors,
                "full_messages": full_messages or [body["message"]],
                "message": (full_messages or [body["message"]])[0],
            }
        }


def _as_list(messages) -> list:
    return messages if isinstance(messages, list) else [messages]


# --- apipie -------------------------------------------------------------------------------


def bookmarks_apidoc() -> dict:
    """The `bookmarks` resource of /apidoc/v2.json, as Foreman documents it."""

    def bookmark_param(*, required: bool) -> dict:
        # apipie's action-aware group: required on create, optional on update.
        def field(name: str, expected_type: str = "string", validator: str = "Must be a String"):
            return {
                **apipie_param(name, "", expected_type=expected_type, validator=validator),
                "full_name": f"bookmark[{name}]",
                "required": required and name != "public",
            }

        return {
            **apipie_param(
                "bookmark", "", expected_type="hash", validator="Must be a Hash", required=required
            ),
            "params": [
                field("name"),
                field("controller"),
                field("query"),
                field("public", "boolean", "Must be one of: true, false, 1, 0."),
            ],
        }

    search = [{"name": f.name, "type": str(f.kind)} for f in BOOKMARK_SEARCH_SCHEMA.fields]
    return apipie_resource(
        "bookmarks",
        "Bookmarks",
        [
            apipie_method(
                "bookmarks",
                "index",
                [("/api/bookmarks", "List all bookmarks")],
                INDEX_PARAMS,
                metadata={"search": search},
            ),
            apipie_method(
                "bookmarks", "show", [("/api/bookmarks/:id", "Show a bookmark")], [ID_PARAM]
            ),
            apipie_method(
                "bookmarks",
                "create",
                [("/api/bookmarks", "Create a bookmark")],
                [bookmark_param(required=True)],
                http_method="POST",
            ),
            apipie_method(
                "bookmarks",
                "update",
                [("/api/bookmarks/:id", "Update a bookmark")],
                [ID_PARAM, bookmark_param(required=False)],
                http_method="PUT",
            ),
            apipie_method(
                "bookmarks",
                "destroy",
                [("/api/bookmarks/:id", "Delete a bookmark")],
                [ID_PARAM],
                http_method="DELETE",
            ),
        ],
    )
