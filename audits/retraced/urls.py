"""
Retraced's routes, at the site's root: a client's `endpoint` is the site's URL (Retraced's
own deployments put them under `/auditlog`; see docs/api-compat.md).
"""

from django.urls import path  # noqa: F401 (the routes land here)

urlpatterns: list = []
