from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from integration_site.views import HealthView, favicon

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("health", HealthView.as_view(), name="health"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("audits.urls")),
    path("", include("bookmarks.urls")),
    path("", include("licensing.urls")),
    path("", include("monitoring.sensu.urls")),
    path("", include("identity.urls")),
]
