"""
Routes of Retraced's viewer and Enterprise IT APIs, and the publisher's management routes
for them (viewer tokens, enterprise tokens, session revocation).
"""

from django.urls import path

from audits.retraced.enterprise_api import ActiveSearchCreateView, SavedSearchCreateView
from audits.retraced.management_api import (
    EnterpriseTokensView,
    EnterpriseTokenView,
    ViewerSessionsRevokeView,
    ViewerTokenView,
)
from audits.retraced.search_api import (
    ActiveSearchPageView,
    EnterpriseGraphQLView,
    SavedExportRenderView,
    ViewerGraphQLView,
)
from audits.retraced.viewer_api import (
    EitapiTokenCreateView,
    EitapiTokensView,
    EitapiTokenView,
    ExportCreateView,
    ExportsView,
    ExportView,
    ViewerSessionView,
)

PUBLISHER = "publisher/v1/project/<str:project_id>"
VIEWER = "viewer/v1/project/<str:project_id>"

urlpatterns = [
    # The publisher's management routes (an API token with audit:read).
    path(f"{PUBLISHER}/viewertoken", ViewerTokenView.as_view(), name="retraced-viewertoken"),
    path(
        f"{PUBLISHER}/group/<str:group_id>/enterprisetoken",
        EnterpriseTokensView.as_view(),
        name="retraced-enterprisetokens",
    ),
    path(
        f"{PUBLISHER}/group/<str:group_id>/enterprisetoken/<str:token_id>",
        EnterpriseTokenView.as_view(),
        name="retraced-enterprisetoken",
    ),
    # Retraced's path is under the viewer prefix, but its credential is the publisher's.
    path(
        f"{VIEWER}/group/<str:group_id>/actor/<str:actor_id>/viewersessions",
        ViewerSessionsRevokeView.as_view(),
        name="retraced-viewersessions-revoke",
    ),
    # The viewer API (a viewer session).
    path("viewer/v1/viewersession", ViewerSessionView.as_view(), name="retraced-viewersession"),
    path("viewer/v1/graphql", ViewerGraphQLView.as_view(), name="retraced-viewer-graphql"),
    path(f"{VIEWER}/eitapi_tokens", EitapiTokensView.as_view(), name="retraced-eitapi-tokens"),
    path(f"{VIEWER}/eitapi_token", EitapiTokenCreateView.as_view(), name="retraced-eitapi-create"),
    path(
        f"{VIEWER}/eitapi_token/<str:token_id>",
        EitapiTokenView.as_view(),
        name="retraced-eitapi-token",
    ),
    path(f"{VIEWER}/exports", ExportsView.as_view(), name="retraced-exports"),
    path(f"{VIEWER}/export", ExportCreateView.as_view(), name="retraced-export-create"),
    path(f"{VIEWER}/export/<str:export_id>", ExportView.as_view(), name="retraced-export"),
    path(
        f"{VIEWER}/export/<str:export_id>/rendered",
        SavedExportRenderView.as_view(),
        name="retraced-export-rendered",
    ),
    # The Enterprise IT API (an enterprise token).
    path(
        "enterprise/v1/graphql", EnterpriseGraphQLView.as_view(), name="retraced-enterprise-graphql"
    ),
    path(
        "enterprise/v1/search/saved",
        SavedSearchCreateView.as_view(),
        name="retraced-enterprise-saved-search",
    ),
    path(
        "enterprise/v1/search/active",
        ActiveSearchCreateView.as_view(),
        name="retraced-enterprise-active-searches",
    ),
    path(
        "enterprise/v1/search/active/<str:active_search_id>",
        ActiveSearchPageView.as_view(),
        name="retraced-enterprise-active-search",
    ),
]
