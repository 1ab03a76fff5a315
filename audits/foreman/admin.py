"""
The admin pages of hosts, locations and organizations. Imported by audits/admin.py, so the
admin site registers them when it autodiscovers the audits app.
"""

from django.contrib import admin

from audits.models import Host, Location, Organization


class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "description"]
    search_fields = ["name", "title"]


@admin.register(Location)
class LocationAdmin(TaxonomyAdmin):
    pass


@admin.register(Organization)
class OrganizationAdmin(TaxonomyAdmin):
    pass


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "ip", "mac", "location", "organization", "updated_at"]
    list_filter = ["location", "organization"]
    search_fields = ["name", "ip", "mac", "comment"]
    list_select_related = ["location", "organization"]
