from django.urls import path  # noqa: F401 (routes are added as the audit API grows)

urlpatterns: list = []
