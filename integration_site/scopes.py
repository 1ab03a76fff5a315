"""
API token scopes. Each scope is least-privilege: reading and writing are separate, so an
application that only posts audit events cannot read the trail back.

Users (HTTP Basic or session) hold a scope through the matching permission
`integration_site.<codename>`; superusers hold them all.
"""

from django.db import models


class Scope(models.TextChoices):
    AUDIT_WRITE = "audit:write", "Post audit events"
    AUDIT_READ = "audit:read", "Read and search the audit trail"
    AUDIT_VERIFY = "audit:verify", "Verify the audit hash chain"
    # Saved searches are shared (public ones appear in everyone's list), so changing them is
    # its own grant rather than a side effect of reading (audit:read) or ingesting (audit:write).
    BOOKMARK_WRITE = "bookmark:write", "Save, change and delete saved searches (bookmarks)"
    LICENSE_READ = "license:read", "Read the license and its fields"
    CONSOLE_READ = "console:read", "Read console options and check console credentials"
    VERSION_READ = "version:read", "Read the current version and pending updates"
    VERSION_APPLY = "version:apply", "Apply updates"
    STATUS_WRITE = "status:write", "Report application startup status"
    IDENTITY_READ = "identity:read", "Use the Identity API (login, user lookup)"
    # Only for an application that signs its own users in: the address it states is where
    # the lockout's per-address cap applies (integration_site.lockout), so a caller that may
    # state any address could spread its guesses over invented ones.
    IDENTITY_FORWARD = (
        "identity:forward",
        "State the end user's address on Identity and Console sign-ins (remote_address)",
    )
    MONITORING_READ = "monitoring:read", "Read clients, checks, events and results"
    MONITORING_WRITE = "monitoring:write", "Publish results, keepalives; resolve and silence"
    HEALTH_READ = "health:read", "Read service health"


def permission_codename(scope: str) -> str:
    """`audit:write` -> `scope_audit_write`, a permission on the ApiToken model."""
    return "scope_" + scope.replace(":", "_")


# What anonymous callers from INTEGRATION_API_ANONYMOUS_NETWORKS may use: the Replicated
# Integration API, which Replicated apps call without credentials.
INTEGRATION_API_SCOPES = frozenset(
    {
        Scope.AUDIT_WRITE,
        Scope.LICENSE_READ,
        Scope.CONSOLE_READ,
        Scope.VERSION_READ,
        Scope.VERSION_APPLY,
        Scope.STATUS_WRITE,
        Scope.IDENTITY_READ,
        # Load balancers inside the trusted network probe health without credentials.
        Scope.HEALTH_READ,
    }
)
