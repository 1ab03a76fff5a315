"""
Foreman's API v2 for audits, hosts, locations and organizations, as its clients (apypie,
Foreman's Ansible modules, hammer) expect it: the index envelope, `search` in the
scoped-search language, `order`, `page`/`per_page`, taxonomy context and Foreman's error
bodies. docs/api-compat.md lists where we differ.
"""

import hashlib
import json
from datetime import UTC
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import django_filters
from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from rest_framework import exceptions, filters, mixins, serializers, viewsets
from rest_framework.pagination import BasePagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.models import AuditEvent, Host, Location, Organization
from audits.search.compiler import parse
from audits.search.completion import complete
from audits.search.errors import QueryError
from audits.search.fields import (
    AUDIT_SEARCH_SCHEMA,
    audit_order_by,
    audit_search,
    audit_search_values,
    searchable,
)
from audits.search.schema import FieldKind, SearchField, SearchSchema
from audits.taxonomy import HOST_TYPE, LOCATION_TYPE, ORGANIZATION_TYPE
from integration_site.schema import PeerShapedSchema
from integration_site.scopes import Scope

DEFAULT_PER_PAGE = 20  # Foreman's Setting[:entries_per_page]
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


# --- Counting -----------------------------------------------------------------------------


def _estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's planner estimate of the row count: instant, roughly right."""
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet) -> int:
    """Exact up to AUDIT_API_EXACT_COUNT_LIMIT; beyond it the planner's estimate (never below
    the limit + 1). A full COUNT over millions of rows costs seconds on every page."""
    limit = settings.AUDIT_API_EXACT_COUNT_LIMIT
    counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return counted
    estimate = _estimate(queryset)
    if estimate is None:
        return queryset.count()
    return max(estimate, limit + 1)


# --- Pagination ---------------------------------------------------------------------------


class ForemanPagination(BasePagination):
    """Foreman's index layout: {total, subtotal, page, per_page, search, sort, results}.

    `total` counts the view's scope without `search`; `subtotal` with it. `per_page` is an
    integer or `all`; a huge integer (apypie and the Ansible modules send 2**32) means
    everything, up to AUDIT_API_MAX_PER_PAGE.
    """

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.search = params.get("search") or None
        self.sort_by, self.sort_order = getattr(view, "sort_echo", (None, None))
        self.page = _page_number(params.get("page"))
        ceiling = settings.AUDIT_API_MAX_PER_PAGE
        raw_per_page = (params.get("per_page") or "").strip()
        self.subtotal = bounded_count(queryset)
        if self.search and view is not None and hasattr(view, "unsearched_queryset"):
            self.total = bounded_count(view.unsearched_queryset())
        else:
            self.total = self.subtotal
        if raw_per_page.lower() == "all":
            self.page, limit = 1, ceiling
            self.per_page = min(self.total, ceiling)
        else:
            limit = min(_per_page(raw_per_page), ceiling)
            self.per_page = limit
        offset = (self.page - 1) * limit
        return list(queryset[offset : offset + limit])

    def get_paginated_response(self, data):
        return Response(
            {
                "total": self.total,
                "subtotal": self.subtotal,
                "page": self.page,
                "per_page": self.per_page,
                "search": self.search,
                "sort": {"by": self.sort_by, "order": self.sort_order},
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "subtotal": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "search": {"type": "string", "nullable": True},
                "sort": {
                    "type": "object",
                    "properties": {
                        "by": {"type": "string", "nullable": True},
                        "order": {"type": "string", "nullable": True},
                    },
                },
                "results": schema,
            },
        }


def _page_number(raw: str | None) -> int:
    # Foreman: `to_i`, and 0 (absent, "0") means the first page.
    if raw is None or not raw.strip():
        return 1
    if not raw.strip().isdigit():
        raise exceptions.ValidationError({"page": ["Must be a positive integer."]})
    return max(int(raw), 1)


def _per_page(raw: str) -> int:
    if not raw:
        return DEFAULT_PER_PAGE
    if not raw.isdigit() or int(raw) < 1:
        raise exceptions.ValidationError({"per_page": ["Must be a positive integer or 'all'."]})
    return int(raw)


# --- Ordering -----------------------------------------------------------------------------


class ForemanOrderFilter(filters.BaseFilterBackend):
    """`order=<field> ASC|DESC` over the view's search fields; echoed in the envelope."""

    def filter_queryset(self, request, queryset, view):
        order = request.query_params.get("order")
        resolver = getattr(view, "order_by", None) or audit_order_by
        try:
            ordering, by, direction = resolver(order)
        except QueryError as exc:
            raise query_error(exc) from exc
        view.sort_echo = (by, direction)
        return queryset.order_by(*ordering)


def simple_order_by(schema: SearchSchema, default: tuple[str, ...]):
    """Ordering for models whose search fields are all plain columns."""

    def order_by(order: str | None):
        if order is None or not order.strip():
            return default, None, None
        words = order.split()
        field = schema.get(words[0])
        direction = words[1] if len(words) > 1 else "ASC"
        if field is None or "__" in field.lookup:
            raise QueryError(
                f"the field '{words[0]}' in the order statement is not valid field for search"
            )
        if len(words) > 2 or direction.upper() not in ("ASC", "DESC"):
            raise QueryError(
                f"the order statement '{order}' is not '<field> ASC' or '<field> DESC'"
            )
        prefix = "-" if direction.upper() == "DESC" else ""
        return (f"{prefix}{field.lookup}", f"{prefix}id"), words[0], direction

    return order_by


# --- Filter sets --------------------------------------------------------------------------

# Which audited types each taxonomy scopes (Foreman's taxed_and_untaxed): an audit of any
# other type stays visible whatever location or organization is selected.
_LOCATION_SCOPED = (HOST_TYPE, LOCATION_TYPE)
_ORGANIZATION_SCOPED = (HOST_TYPE, ORGANIZATION_TYPE)


def _taxonomy(model, value, label: str):
    if value in (None, ""):
        return None  # Foreman: a blank context means "any"
    found = model.objects.filter(pk=value).first()
    if found is None:
        raise exceptions.NotFound(f"{label} with id {value} not found")
    return found


class AuditFilterSet(django_filters.FilterSet):
    location_id = django_filters.NumberFilter(method="filter_location")
    organization_id = django_filters.NumberFilter(method="filter_organization")
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = AuditEvent
        fields = ["location_id", "organization_id", "search"]

    def filter_location(self, queryset, name, value):
        location = _taxonomy(Location, value, "Location")
        if location is None:
            return queryset
        linked = AuditEvent.locations.through.objects.filter(location_id=location.pk)
        return queryset.filter(
            Q(id__in=linked.values("auditevent_id")) | ~Q(target_type__in=_LOCATION_SCOPED)
        )

    def filter_organization(self, queryset, name, value):
        organization = _taxonomy(Organization, value, "Organization")
        if organization is None:
            return queryset
        linked = AuditEvent.organizations.through.objects.filter(organization_id=organization.pk)
        return queryset.filter(
            Q(id__in=linked.values("auditevent_id")) | ~Q(target_type__in=_ORGANIZATION_SCOPED)
        )

    def filter_search(self, queryset, name, value):
        try:
            return audit_search(queryset, value, tz=UTC)
        except QueryError as exc:
            raise query_error(exc) from exc


def _schema_search_filterset(model, schema: SearchSchema):
    class SchemaFilterSet(django_filters.FilterSet):
        search = django_filters.CharFilter(method="filter_search")

        class Meta:
            fields = ["search"]

        def filter_search(self, queryset, name, value):
            if not value.strip():
                return queryset
            try:
                return queryset.filter(parse(value, schema))
            except QueryError as exc:
                raise query_error(exc) from exc

    SchemaFilterSet.Meta.model = model
    SchemaFilterSet.__name__ = f"{model.__name__}FilterSet"
    return SchemaFilterSet


_S = FieldKind.STRING
TAXONOMY_SEARCH_SCHEMA = SearchSchema(
    [
        SearchField("name", "name", _S, default=True),
        SearchField("title", "title", _S, default=True),
        SearchField("description", "description", FieldKind.TEXT),
        SearchField("id", "id", FieldKind.INTEGER),
    ]
)
HOST_SEARCH_SCHEMA = SearchSchema(
    [
        SearchField("name", "name", _S, default=True),
        SearchField("ip", "ip", _S),
        SearchField("mac", "mac", _S),
        SearchField("comment", "comment", FieldKind.TEXT),
        SearchField("location", "location__name", _S),
        SearchField("location_id", "location_id", FieldKind.INTEGER),
        SearchField("organization", "organization__name", _S),
        SearchField("organization_id", "organization_id", FieldKind.INTEGER),
        SearchField("id", "id", FieldKind.INTEGER),
    ]
)


# --- Serializers --------------------------------------------------------------------------


def _int_or_text(value: str):
    """Foreman ids are integers; ours may be any string an integration sent."""
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 19 else value


def foreman_time(value) -> str | None:
    # Ruby's Time#to_s in UTC, as Foreman renders created_at.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


class TaxonomySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_null=True)


class AuditSerializer(serializers.Serializer):
    """Foreman's audit record (api/v2/audits/main.json.rabl), keys in its order."""

    def to_representation(self, event: AuditEvent) -> dict:
        is_user = event.actor_type == "User"
        return {
            "user_id": _int_or_text(event.actor_id),
            # Foreman renders null (its user association is not polymorphic); we say which
            # kind of actor it was when it was not a user account.
            "user_type": None if is_user or not event.actor_type else event.actor_type,
            "user_name": event.actor_name or None,
            "version": event.version,
            "comment": event.comment or None,
            "associated_id": _int_or_text(event.associated_id),
            "associated_type": event.associated_type or None,
            "remote_address": event.remote_address,
            "associated_name": event.associated_name or None,
            "created_at": foreman_time(event.created_at),
            "request_uuid": event.request_uuid or None,
            "id": event.id,
            "auditable_id": _int_or_text(event.target_id),
            "auditable_name": event.target_name or None,
            "auditable_type": event.target_type or None,
            "action": event.action,
            "audited_changes": event.audited_changes,
            "locations": TaxonomySerializer(event.locations.all(), many=True).data,
            "organizations": TaxonomySerializer(event.organizations.all(), many=True).data,
        }


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "name", "title", "description"]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "title", "description"]


class HostSerializer(serializers.ModelSerializer):
    location_name = serializers.CharField(source="location.name", default=None, read_only=True)
    organization_name = serializers.CharField(
        source="organization.name", default=None, read_only=True
    )
    created_at = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    class Meta:
        model = Host
        fields = [
            "id",
            "name",
            "ip",
            "mac",
            "comment",
            "location_id",
            "location_name",
            "organization_id",
            "organization_name",
            "created_at",
            "updated_at",
        ]

    def get_created_at(self, host) -> str | None:
        return foreman_time(host.created_at)

    def get_updated_at(self, host) -> str | None:
        return foreman_time(host.updated_at)


# --- Views --------------------------------------------------------------------------------


class ForemanViewSet(ForemanErrorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    required_scopes = {"GET": Scope.AUDIT_READ}
    pagination_class = ForemanPagination
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, ForemanOrderFilter]
    sort_echo = (None, None)

    def unsearched_queryset(self) -> QuerySet:
        """The view's scope (parent, taxonomy context) without `search`: the envelope's total."""
        data = self.request.query_params.copy()
        data.pop("search", None)
        filterset = self.filterset_class(
            data=data, queryset=self.get_queryset(), request=self.request
        )
        if not filterset.is_valid():
            return self.get_queryset()
        return filterset.qs

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise exceptions.NotFound(self.not_found_message()) from None

    def not_found_message(self) -> str:
        name = self.queryset.model._meta.model_name
        return f"Resource {name} not found by id '{self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)}'"


class AuditViewSet(mixins.RetrieveModelMixin, ForemanViewSet):
    """GET /api/audits, /api/audits/:id and /api/hosts/:host_id/audits."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditSerializer
    filterset_class = AuditFilterSet

    def get_queryset(self):
        events = searchable(AuditEvent.objects.all()).prefetch_related("locations", "organizations")
        host_id = self.kwargs.get("host_id")
        if host_id is not None:
            events = events.filter(host_audits_q(host_id))
        return events

    def retrieve(self, request, *args, **kwargs):
        # Foreman's show takes the taxonomy context too: an unknown one is a 404.
        _taxonomy(Location, request.query_params.get("location_id"), "Location")
        _taxonomy(Organization, request.query_params.get("organization_id"), "Organization")
        return super().retrieve(request, *args, **kwargs)

    def get_object(self):
        pk = self.kwargs["pk"]
        event = self.get_queryset().filter(pk=pk).first() if str(pk).isdigit() else None
        if event is None:
            raise exceptions.NotFound(f"Resource audit not found by id '{pk}'")
        return event

    def order_by(self, order):
        return audit_order_by(order)


def host_audits_q(host_id: str) -> Q:
    """Audits whose auditable is the host (Foreman's parent scope), by id or by name. A name
    no current host has still finds a destroyed host's audits by their recorded name."""
    if str(host_id).isdigit():
        return Q(target_type=HOST_TYPE, target_id=str(host_id))
    host = Host.objects.filter(name=host_id).first()
    if host is not None:
        return Q(target_type=HOST_TYPE, target_id=str(host.pk))
    return Q(target_type=HOST_TYPE, target_name=host_id)


class _FriendlyIdMixin:
    """Foreman finds records by id or by name ("friendly id"); host names contain dots."""

    lookup_value_regex = "[^/]+"

    def get_object(self):
        key = self.kwargs["pk"]
        lookup = {"pk": key} if str(key).isdigit() else {"name": key}
        found = self.get_queryset().filter(**lookup).first()
        if found is None:
            label = self.queryset.model._meta.verbose_name
            raise exceptions.NotFound(f"Resource {label} not found by id '{key}'")
        return found


class HostViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Host.objects.select_related("location", "organization")
    serializer_class = HostSerializer
    filterset_class = _schema_search_filterset(Host, HOST_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(HOST_SEARCH_SCHEMA, ("name", "id")))


class LocationViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Location.objects.all()
    serializer_class = LocationSerializer
    filterset_class = _schema_search_filterset(Location, TAXONOMY_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(TAXONOMY_SEARCH_SCHEMA, ("title", "id")))


class OrganizationViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_class = _schema_search_filterset(Organization, TAXONOMY_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(TAXONOMY_SEARCH_SCHEMA, ("title", "id")))


class AuditAutoCompleteView(ForemanErrorMixin, APIView):
    """GET /api/audits/auto_complete_search?search=...: Foreman's search-bar suggestions.
    A query that cannot be completed answers 200 with [{"error": message}], as Foreman does."""

    schema = PeerShapedSchema()

    required_scopes = {"GET": Scope.AUDIT_READ}

    def get(self, request):
        try:
            items = complete(
                request.query_params.get("search", ""),
                AUDIT_SEARCH_SCHEMA,
                values_for=audit_search_values,
            )
        except QueryError as exc:
            return Response([{"error": exc.message}])
        return Response(items)


def site_version() -> str:
    try:
        return package_version("integration-site")
    except PackageNotFoundError:
        return "0.1.0"


class ForemanStatusView(ForemanErrorMixin, APIView):
    """GET /api/status, which Foreman's Ansible modules call first to learn the version."""

    schema = PeerShapedSchema()

    required_scopes = {"GET": Scope.AUDIT_READ}

    def get(self, request):
        return Response(
            {"result": "ok", "status": 200, "version": site_version(), "api_version": 2}
        )


class ApidocView(ForemanErrorMixin, APIView):
    """GET /apidoc/v2.json: the apipie description apypie discovers the API from. Public,
    like Foreman's: it describes routes and parameters, no data."""

    schema = PeerShapedSchema()

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, language: str | None = None):
        from audits.apipie import apidoc

        return Response(apidoc())


@cache
def apidoc_checksum() -> str:
    from audits.apipie import apidoc

    return hashlib.md5(json.dumps(apidoc(), sort_keys=True).encode()).hexdigest()
