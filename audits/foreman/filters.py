"""
`search` in the scoped-search language, `order=<field> ASC|DESC`, and the taxonomy context
(`location_id`, `organization_id`) as Foreman's index actions take them.
"""

from datetime import UTC

import django_filters
from django.db.models import Model, Q
from rest_framework import filters

from audits.foreman.errors import query_error
from audits.foreman.taxonomies import taxonomy_from_context
from audits.models import (
    HOST_TYPE,
    LOCATION_TYPE,
    ORGANIZATION_TYPE,
    AuditEvent,
    Location,
    Organization,
)
from audits.search.compiler import parse
from audits.search.errors import QueryError
from audits.search.fields import audit_order_by, audit_search
from audits.search.schema import SearchSchema

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


class AuditFilterSet(django_filters.FilterSet):
    # An unknown `location_id` or `organization_id` is a 404, as Foreman answers it; the
    # OpenAPI schema declares it on the routes using this filter set (SiteSchema).
    answers_not_found = True

    location_id = django_filters.NumberFilter(method="filter_location")
    organization_id = django_filters.NumberFilter(method="filter_organization")
    search = django_filters.CharFilter(method="filter_search")
    # Retraced's tenancy, beside Foreman's taxonomy context (also searchable: `project = x`).
    project = django_filters.CharFilter(field_name="project", max_length=64)
    environment = django_filters.CharFilter(field_name="environment", max_length=64)
    group_id = django_filters.CharFilter(field_name="group_id", max_length=255)

    class Meta:
        model = AuditEvent
        fields = ["location_id", "organization_id", "search", "project", "environment", "group_id"]

    def filter_location(self, queryset, name, value):
        location = taxonomy_from_context(Location, value, "Location")
        if location is None:
            return queryset
        linked = AuditEvent.locations.through.objects.filter(location_id=location.pk)
        return queryset.filter(
            Q(id__in=linked.values("auditevent_id")) | ~Q(target_type__in=_LOCATION_SCOPED)
        )

    def filter_organization(self, queryset, name, value):
        organization = taxonomy_from_context(Organization, value, "Organization")
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


def schema_search_filterset(model: type[Model], schema: SearchSchema):
    """A filter set whose `search` parses in `schema` (hosts, locations, organizations)."""

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
