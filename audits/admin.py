from django.contrib import admin

from audits.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only, so no add, change or delete from the admin."""

    list_display = ["created_at", "action", "actor_name", "target_name", "source", "remote_address"]
    list_filter = ["source", "action"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
