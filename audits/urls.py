from django.urls import include, path

from audits.audit_api import (
    AuditChainVerificationView,
    AuditChainVerifyView,
    AuditEventBulkIngestView,
    AuditEventIngestView,
)
from audits.retraced.base import retraced_url_prefix

urlpatterns: list = [
    # The Replicated Audit API, its bulk companion and chain verification.
    path("audit/v1/event", AuditEventIngestView.as_view(), name="audit-event-create"),
    path("audit/v1/event/bulk", AuditEventBulkIngestView.as_view(), name="audit-event-bulk"),
    path("audit/v1/verify", AuditChainVerifyView.as_view(), name="audit-chain-verify"),
    path(
        "audit/v1/verify/<int:verification_id>",
        AuditChainVerificationView.as_view(),
        name="audit-chain-verification",
    ),
    # Retraced's publisher, viewer and enterprise APIs, under RETRACED_URL_PREFIX.
    path(retraced_url_prefix(), include("audits.retraced.urls")),
    # Foreman's API v2: /api/audits, /api/hosts, /api/locations, /api/organizations, /apidoc.
    path("", include("audits.foreman.urls")),
]
