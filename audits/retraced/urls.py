"""
Retraced's routes, at the site's root: a client's `endpoint` is the site's URL (Retraced's
own deployments put them under `/auditlog`; see docs/api-compat.md).
"""

from django.urls import include, path

urlpatterns: list = [
    # The viewer and Enterprise IT APIs, and the publisher routes that manage their tokens.
    path("", include("audits.retraced.viewer_urls")),
]
