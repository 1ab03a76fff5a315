"""Routes of the Foreman-compatible API (audits/foreman/views.py), at the host root as apypie
expects."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from audits.foreman.views import (
    ApidocView,
    AuditAutoCompleteView,
    AuditViewSet,
    ForemanStatusView,
    HostViewSet,
    LocationViewSet,
    OrganizationViewSet,
)

router = SimpleRouter(trailing_slash="")
router.register("api/audits", AuditViewSet, basename="foreman-audit")
router.register("api/hosts", HostViewSet, basename="foreman-host")
router.register("api/locations", LocationViewSet, basename="foreman-location")
router.register("api/organizations", OrganizationViewSet, basename="foreman-organization")

urlpatterns = [
    # Before the router, or "auto_complete_search" would be read as an audit id.
    path(
        "api/audits/auto_complete_search",
        AuditAutoCompleteView.as_view(),
        name="foreman-audit-autocomplete",
    ),
    path(
        "api/hosts/<str:host_id>/audits",
        AuditViewSet.as_view({"get": "list"}),
        name="foreman-host-audits",
    ),
    path("api/status", ForemanStatusView.as_view(), name="foreman-status"),
    # apipie's /apidoc/v2.json and /apidoc/v2.<language>.json: one route each keeps both in
    # the OpenAPI schema (drf-spectacular renders no optional group).
    re_path(r"^apidoc/v2\.json$", ApidocView.as_view(), name="apidoc"),
    re_path(
        r"^apidoc/v2\.(?P<language>[A-Za-z_-]+)\.json$",
        ApidocView.as_view(),
        name="apidoc-language",
    ),
    *router.urls,
]
