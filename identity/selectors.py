"""Reads for identity and provisioning."""

from django.db.models import QuerySet

from identity.directories import (
    Directory,
    LdapDirectory,
    SiteDirectory,
    normalize_dn,
)
from identity.models import (
    DirectorySource,
    ProvisionerSettings,
    ProvisioningOutboxEntry,
)


def directory_sources_enabled() -> QuerySet[DirectorySource]:
    return DirectorySource.objects.filter(enabled=True).order_by("position", "name")


def directories_all() -> list[Directory]:
    """Enabled LDAP/AD sources in their configured order, then the site's own users."""
    return [LdapDirectory(source) for source in directory_sources_enabled()] + [SiteDirectory()]


def directories_matching(*, hostname: str = "", base_dn: str = "") -> list[Directory]:
    """The sources a request's `hostname` / `base_dn` query parameters name (all if neither)."""
    directories = directories_all()
    if hostname:
        directories = [d for d in directories if d.hostname.lower() == hostname.strip().lower()]
    if base_dn:
        wanted = normalize_dn(base_dn)
        directories = [d for d in directories if normalize_dn(d.base_dn) == wanted]
    return directories


def provisioner_settings() -> ProvisionerSettings:
    config, _ = ProvisionerSettings.objects.get_or_create(pk=1)
    return config


def provisioning_outbox_pending() -> QuerySet[ProvisioningOutboxEntry]:
    return ProvisioningOutboxEntry.objects.filter(sent_at__isnull=True).order_by("id")
