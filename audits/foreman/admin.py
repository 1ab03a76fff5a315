"""
The admin pages of hosts, locations and organizations. Imported by audits/admin.py, so the
admin site registers them when it autodiscovers the audits app.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from audits.models import HOST_TYPE, Host, Location, Organization


def audits_link(query: dict[str, str], of: str) -> str:
    """A link to the audit list filtered by `query`. Every row's link reads "Audits"; its
    accessible name says whose, so a screen reader's list of links tells them apart."""
    url = f"{reverse('admin:audits_auditevent_changelist')}?{urlencode(query)}"
    return format_html('<a href="{}" aria-label="Audits of {}">Audits</a>', url, of)


class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "description", "audits"]
    search_fields = ["name", "title"]
    readonly_fields = ["audits"]
    # The audit search's field for events in this taxonomy (Foreman's `location_id = 3`).
    audit_search_field = ""

    @admin.display(description="audits")
    def audits(self, taxonomy) -> str:
        if taxonomy.pk is None:
            return "-"
        query = {"q": f"{self.audit_search_field} = {taxonomy.pk}"}
        return audits_link(query, taxonomy.title or taxonomy.name)


@admin.register(Location)
class LocationAdmin(TaxonomyAdmin):
    audit_search_field = "location_id"


@admin.register(Organization)
class OrganizationAdmin(TaxonomyAdmin):
    audit_search_field = "organization_id"


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "ip", "mac", "location", "organization", "updated_at", "audits"]
    list_filter = ["location", "organization"]
    search_fields = ["name", "ip", "mac", "comment"]
    list_select_related = ["location", "organization"]
    readonly_fields = ["audits"]

    @admin.display(description="audits")
    def audits(self, host: Host) -> str:
        # The host's own audits, as /api/hosts/:id/audits lists them (audits.foreman.hosts):
        # the same filter as an event's "Same target" link, served by the target index.
        if host.pk is None:
            return "-"
        return audits_link({"target_type__exact": HOST_TYPE, "target_id": str(host.pk)}, host.name)
