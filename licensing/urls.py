from django.urls import path

from licensing import api

app_name = "licensing"

urlpatterns = [
    path("license/v1/license", api.LicenseView.as_view(), name="license"),
    path("license/v1/field/<str:field_name>", api.LicenseFieldView.as_view(), name="license-field"),
    path("console/v1/option", api.ConsoleOptionView.as_view(), name="console-option"),
    path("version/v1/current", api.VersionCurrentView.as_view(), name="version-current"),
    path("version/v1/updates", api.VersionUpdatesView.as_view(), name="version-updates"),
    path("version/v1/jobs/<int:job_id>", api.VersionJobView.as_view(), name="version-job"),
    path("version/v1/<int:sequence>", api.VersionApplyView.as_view(), name="version-apply"),
    path("status/v1/startup", api.StatusStartupView.as_view(), name="status-startup"),
]
