from django.urls import path

from identity import views

urlpatterns = [
    path("identity/v1/sources", views.IdentitySourcesView.as_view(), name="identity-sources"),
    path("identity/v1/login", views.IdentityLoginView.as_view(), name="identity-login"),
    path(
        "identity/v1/user/<str:username>/exists",
        views.IdentityUserExistsView.as_view(),
        name="identity-user-exists",
    ),
    path("identity/v1/user/<str:username>", views.IdentityUserView.as_view(), name="identity-user"),
    path("console/v1/auth", views.ConsoleAuthView.as_view(), name="console-auth"),
]
