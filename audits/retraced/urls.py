"""
Retraced's routes, at the site's root: a client's `endpoint` is the site's URL (Retraced's
own deployments put them under `/auditlog`; see docs/api-compat.md).
"""

from django.urls import include, path

from audits.retraced.graphql_views import PublisherGraphQLView
from audits.retraced.publisher import PublisherEventBulkView, PublisherEventView

urlpatterns: list = [
    path(
        "publisher/v1/project/<str:project_id>/event",
        PublisherEventView.as_view(),
        name="retraced-publisher-event",
    ),
    path(
        "publisher/v1/project/<str:project_id>/event/bulk",
        PublisherEventBulkView.as_view(),
        name="retraced-publisher-event-bulk",
    ),
    path(
        "publisher/v1/project/<str:project_id>/graphql",
        PublisherGraphQLView.as_view(),
        name="retraced-publisher-project-graphql",
    ),
    path("publisher/v1/graphql", PublisherGraphQLView.as_view(), name="retraced-publisher-graphql"),
    # The viewer and Enterprise IT APIs, and the publisher routes that manage their tokens.
    path("", include("audits.retraced.viewer_urls")),
]
