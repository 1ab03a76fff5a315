"""Sensu's routes (lib/sensu/api/routes.rb): names match [\\w.-]+, /incidents aliases /events."""

from django.urls import re_path

from monitoring.sensu import views

# Ruby's \w is ASCII; Python's is Unicode, so the classes are spelled out (as in validation.py).
NAME = r"[A-Za-z0-9_.-]+"
SILENCE_ID = r"[A-Za-z0-9_.\-:*]+"

urlpatterns = [
    # /incidents is Sensu's alias of /events; one route each keeps the OpenAPI paths exact.
    *(
        route
        for prefix in ("events", "incidents")
        for route in (
            re_path(rf"^{prefix}$", views.EventsView.as_view(), name=f"sensu-{prefix}"),
            re_path(
                rf"^{prefix}/(?P<client>{NAME})$",
                views.ClientEventsView.as_view(),
                name=f"sensu-client-{prefix}",
            ),
            re_path(
                rf"^{prefix}/(?P<client>{NAME})/(?P<check>{NAME})$",
                views.EventView.as_view(),
                name="sensu-event" if prefix == "events" else "sensu-incident",
            ),
        )
    ),
    re_path(r"^resolve$", views.ResolveView.as_view(), name="sensu-resolve"),
    re_path(r"^clients$", views.ClientsView.as_view(), name="sensu-clients"),
    re_path(rf"^clients/(?P<client>{NAME})$", views.ClientView.as_view(), name="sensu-client"),
    re_path(
        rf"^clients/(?P<client>{NAME})/history$",
        views.ClientHistoryView.as_view(),
        name="sensu-client-history",
    ),
    re_path(r"^checks$", views.ChecksView.as_view(), name="sensu-checks"),
    re_path(rf"^checks/(?P<check>{NAME})$", views.CheckView.as_view(), name="sensu-check"),
    re_path(r"^request$", views.RequestView.as_view(), name="sensu-request"),
    re_path(r"^results$", views.ResultsView.as_view(), name="sensu-results"),
    re_path(
        rf"^results/(?P<client>{NAME})$",
        views.ClientResultsView.as_view(),
        name="sensu-client-results",
    ),
    re_path(
        rf"^results/(?P<client>{NAME})/(?P<check>{NAME})$",
        views.ResultView.as_view(),
        name="sensu-result",
    ),
    re_path(r"^silenced$", views.SilencedView.as_view(), name="sensu-silenced"),
    re_path(r"^silenced/clear$", views.SilencedClearView.as_view(), name="sensu-silenced-clear"),
    re_path(
        rf"^silenced/ids/(?P<silence_id>{SILENCE_ID})$",
        views.SilencedIdView.as_view(),
        name="sensu-silenced-id",
    ),
    re_path(
        rf"^silenced/subscriptions/(?P<subscription>{SILENCE_ID})$",
        views.SilencedSubscriptionView.as_view(),
        name="sensu-silenced-subscription",
    ),
    re_path(
        rf"^silenced/checks/(?P<check>{NAME})$",
        views.SilencedCheckView.as_view(),
        name="sensu-silenced-check",
    ),
    re_path(r"^stashes$", views.StashesView.as_view(), name="sensu-stashes"),
    # Sensu routes /stash/:path and /stashes/:path alike; one route each keeps both in the
    # OpenAPI schema (drf-spectacular renders only the first branch of an alternation).
    re_path(r"^stash/(?P<path>.+)$", views.StashView.as_view(), name="sensu-stash"),
    re_path(r"^stashes/(?P<path>.+)$", views.StashView.as_view(), name="sensu-stashes-path"),
    re_path(r"^aggregates$", views.AggregatesView.as_view(), name="sensu-aggregates"),
    re_path(
        rf"^aggregates/(?P<name>{NAME})$", views.AggregateView.as_view(), name="sensu-aggregate"
    ),
    re_path(
        rf"^aggregates/(?P<name>{NAME})/clients$",
        views.AggregateClientsView.as_view(),
        name="sensu-aggregate-clients",
    ),
    re_path(
        rf"^aggregates/(?P<name>{NAME})/checks$",
        views.AggregateChecksView.as_view(),
        name="sensu-aggregate-checks",
    ),
    re_path(
        rf"^aggregates/(?P<name>{NAME})/results/(?P<severity>{NAME})$",
        views.AggregateSeverityView.as_view(),
        name="sensu-aggregate-severity",
    ),
    re_path(r"^info$", views.InfoView.as_view(), name="sensu-info"),
    re_path(r"^settings$", views.SettingsView.as_view(), name="sensu-settings"),
]
