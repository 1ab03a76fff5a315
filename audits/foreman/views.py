"""
The Foreman-compatible endpoints: /api/audits (also under /api/hosts/:host_id),
/api/hosts, /api/locations, /api/organizations, /api/audits/auto_complete_search,
/api/status and /apidoc/v2.json. `ForemanViewSet` is the base of every Foreman index
(bookmarks' too): envelope, search, order and error bodies.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import django_filters
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audits.foreman.apipie import apidoc
from audits.foreman.errors import ForemanErrorMixin
from audits.foreman.filters import (
    AuditFilterSet,
    ForemanOrderFilter,
    schema_search_filterset,
    simple_order_by,
)
from audits.foreman.hosts import HOST_SEARCH_SCHEMA, host_audits_q
from audits.foreman.ids import is_decimal_id
from audits.foreman.pagination import ForemanPagination
from audits.foreman.serializers import (
    AuditSerializer,
    HostSerializer,
    LocationSerializer,
    OrganizationSerializer,
)
from audits.foreman.taxonomies import TAXONOMY_SEARCH_SCHEMA, taxonomy_from_context
from audits.models import AuditEvent, Host, Location, Organization
from audits.search.completion import complete
from audits.search.errors import QueryError
from audits.search.fields import (
    AUDIT_SEARCH_SCHEMA,
    audit_order_by,
    audit_search_values,
    searchable,
)
from integration_site.replicas import ReplicaReadsMixin
from integration_site.schema import JSON_ARRAY, JSON_OBJECT, PeerShapedSchema, wire
from integration_site.scopes import Scope


class ForemanViewSet(ForemanErrorMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    required_scopes = {"GET": Scope.AUDIT_READ}
    pagination_class = ForemanPagination
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, ForemanOrderFilter]
    sort_echo = (None, None)

    def list(self, request, *args, **kwargs):
        """A big page streamed (ForemanPagination.streaming_response), never built in
        memory, when the answer is compact JSON; a small page, the browsable API and
        `indent=` get DRF's usual rendering of the same page."""
        queryset = self.filter_queryset(self.get_queryset())
        rows = self.paginate_queryset(queryset)
        # A streamed page is read after the view returns: from the database chosen now (a
        # replica, for a view that may read one).
        rows = rows.using(rows.db)
        renderer, media_type = request.accepted_renderer, request.accepted_media_type
        context = self.get_renderer_context()
        if (
            not self.paginator.streams
            or not isinstance(renderer, JSONRenderer)
            or renderer.get_indent(media_type, context)
        ):
            return self.get_paginated_response(self.get_serializer(rows, many=True).data)
        return self.paginator.streaming_response(
            rows, self.get_serializer().to_representation, renderer, media_type, context
        )

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


# AuditSerializer builds Foreman's record by hand (no declared fields): the schema names
# the page envelope and a JSON object per record.
@extend_schema_view(
    list=extend_schema(
        responses={200: ForemanPagination().get_paginated_response_schema(JSON_ARRAY)}
    ),
    retrieve=extend_schema(responses={200: JSON_OBJECT}),
)
class AuditViewSet(ReplicaReadsMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    """GET /api/audits, /api/audits/:id and /api/hosts/:host_id/audits (read from a replica
    when there is one: integration_site.replicas)."""

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
        taxonomy_from_context(Location, request.query_params.get("location_id"), "Location")
        taxonomy_from_context(
            Organization, request.query_params.get("organization_id"), "Organization"
        )
        return super().retrieve(request, *args, **kwargs)

    def get_object(self):
        pk = self.kwargs["pk"]
        event = self.get_queryset().filter(pk=pk).first() if is_decimal_id(str(pk)) else None
        if event is None:
            raise exceptions.NotFound(f"Resource audit not found by id '{pk}'")
        return event

    def order_by(self, order):
        return audit_order_by(order)


class _FriendlyIdMixin:
    """Foreman finds records by id or by name ("friendly id"); host names contain dots."""

    lookup_value_regex = "[^/]+"

    def get_object(self):
        key = self.kwargs["pk"]
        lookup = {"pk": key} if is_decimal_id(str(key)) else {"name": key}
        found = self.get_queryset().filter(**lookup).first()
        if found is None:
            label = self.queryset.model._meta.verbose_name
            raise exceptions.NotFound(f"Resource {label} not found by id '{key}'")
        return found


class HostViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Host.objects.select_related("location", "organization")
    serializer_class = HostSerializer
    filterset_class = schema_search_filterset(Host, HOST_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(HOST_SEARCH_SCHEMA, ("name", "id")))


class LocationViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Location.objects.all()
    serializer_class = LocationSerializer
    filterset_class = schema_search_filterset(Location, TAXONOMY_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(TAXONOMY_SEARCH_SCHEMA, ("title", "id")))


class OrganizationViewSet(_FriendlyIdMixin, mixins.RetrieveModelMixin, ForemanViewSet):
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_class = schema_search_filterset(Organization, TAXONOMY_SEARCH_SCHEMA)
    order_by = staticmethod(simple_order_by(TAXONOMY_SEARCH_SCHEMA, ("title", "id")))


class AuditAutoCompleteView(ReplicaReadsMixin, ForemanErrorMixin, APIView):
    """GET /api/audits/auto_complete_search?search=...: Foreman's search-bar suggestions.
    A query that cannot be completed answers 200 with [{"error": message}], as Foreman does."""

    schema = PeerShapedSchema()

    required_scopes = {"GET": Scope.AUDIT_READ}

    @wire({200: JSON_ARRAY})
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
        return Response(apidoc())
