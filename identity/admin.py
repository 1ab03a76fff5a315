from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from identity.models import (
    DirectorySource,
    ProvisionerSettings,
    ProvisioningOutboxEntry,
)
from identity.provisioning import provisioner_url
from identity.selectors import provisioner_settings, provisioning_outbox_pending
from identity.services import (
    directory_source_set_bind_password,
    directory_source_test,
    provisioning_resync_request,
    provisioning_sync_soon,
)
from integration_site.admin_site import ReadOnlyAdminMixin


class DirectorySourceForm(forms.ModelForm):
    # The stored password is never sent back to the browser; typing a new one replaces it.
    new_bind_password = forms.CharField(
        label="Bind password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored password.",
    )
    clear_bind_password = forms.BooleanField(
        required=False, help_text="Forget the stored password (anonymous or passwordless bind)."
    )

    class Meta:
        model = DirectorySource
        fields = (
            "name",
            "enabled",
            "position",
            "directory_type",
            "host",
            "port",
            "tls_mode",
            "verify_certificate",
            "ca_certificate",
            "timeout_seconds",
            "bind_dn",
            "base_dn",
            "user_search_dn",
            "username_attribute",
            "user_object_class",
            "group_search_dn",
            "restrict_to_group_dn",
        )


@admin.register(DirectorySource)
class DirectorySourceAdmin(admin.ModelAdmin):
    form = DirectorySourceForm
    list_display = (
        "name",
        "enabled",
        "position",
        "directory_type",
        "host",
        "port",
        "tls_mode",
        "base_dn",
        "last_test_ok",
        "last_test_at",
    )
    list_filter = ("enabled", "directory_type", "tls_mode")
    search_fields = ("name", "host", "base_dn")
    actions = ["test_connection"]
    readonly_fields = ("bind_password_stored", "last_test_at", "last_test_ok", "last_test_message")
    fieldsets = (
        (None, {"fields": ("name", "enabled", "position", "directory_type")}),
        (
            "Connection",
            {
                "fields": (
                    "host",
                    "port",
                    "tls_mode",
                    "verify_certificate",
                    "ca_certificate",
                    "timeout_seconds",
                )
            },
        ),
        (
            "Search account",
            {
                "fields": (
                    "bind_dn",
                    "bind_password_stored",
                    "new_bind_password",
                    "clear_bind_password",
                )
            },
        ),
        (
            "Users and groups",
            {
                "fields": (
                    "base_dn",
                    "user_search_dn",
                    "username_attribute",
                    "user_object_class",
                    "group_search_dn",
                    "restrict_to_group_dn",
                )
            },
        ),
        ("Last connection test", {"fields": ("last_test_at", "last_test_ok", "last_test_message")}),
    )

    @admin.display(description="Stored bind password")
    def bind_password_stored(self, obj) -> str:
        return "set (hidden)" if obj and obj.bind_password else "none"

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("clear_bind_password"):
            obj.bind_password = ""
        elif form.cleaned_data.get("new_bind_password"):
            directory_source_set_bind_password(
                source=obj, password=form.cleaned_data["new_bind_password"]
            )
        super().save_model(request, obj, form, change)

    @admin.action(description="Test connection (bind and search)")
    def test_connection(self, request, queryset):
        for source in queryset:
            ok, message = directory_source_test(source=source)
            self.message_user(request, message, messages.SUCCESS if ok else messages.ERROR)


@admin.register(ProvisionerSettings)
class ProvisionerSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "effective_url",
        "enabled",
        "state",
        "last_sync_at",
        "pending_changes",
        "last_error_short",
    )
    actions = ["resync", "sync_now"]
    readonly_fields = (
        "effective_url",
        "state",
        "last_sync_at",
        "last_full_sync_at",
        "pending_changes",
        "last_error",
        "last_error_at",
        "needs_full_sync",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "url",
                    "effective_url",
                    "enabled",
                    "password_format",
                    "enable_reset_request",
                )
            },
        ),
        (
            "Sync state",
            {
                "fields": (
                    "state",
                    "last_sync_at",
                    "last_full_sync_at",
                    "pending_changes",
                    "needs_full_sync",
                    "last_error",
                    "last_error_at",
                )
            },
        ),
    )

    # Where users (and, by password_format, their password hashes) are sent: pointing it
    # elsewhere would hand every provisioned user's password hash to whoever chose it.
    superuser_fields = ("url", "password_format")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += self.superuser_fields
        return readonly

    def changelist_view(self, request, extra_context=None):
        provisioner_settings()  # The one row always exists, so there is always a row to edit.
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Provisioner URL in use")
    def effective_url(self, obj) -> str:
        return provisioner_url(obj) or "— (not configured)"

    @admin.display(description="Pending changes")
    def pending_changes(self, obj) -> int:
        return provisioning_outbox_pending().count()

    @admin.display(description="Last error")
    def last_error_short(self, obj) -> str:
        return (obj.last_error[:120] + "…") if len(obj.last_error) > 120 else obj.last_error

    def save_model(self, request, obj, form, change):
        # Like Replicated's identity config change: the app gets a reset and a full sync.
        if change and {"url", "password_format", "enabled"} & set(form.changed_data):
            obj.needs_full_sync = True
        super().save_model(request, obj, form, change)
        provisioning_sync_soon()

    @admin.action(description="Resync: reset the application and send every user again")
    def resync(self, request, queryset):
        provisioning_resync_request()
        self.message_user(request, "Full re-sync queued; the worker sends it on its next run.")

    @admin.action(description="Sync now (retry a paused sync)")
    def sync_now(self, request, queryset):
        provisioning_sync_soon()
        self.message_user(request, "Sync queued for the worker.")


@admin.register(ProvisioningOutboxEntry)
class ProvisioningOutboxEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "operation",
        "username",
        "user_uuid",
        "created_at",
        "attempts",
        "last_status",
        "sent_at",
    )
    list_filter = ("operation", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("username", "user_uuid")
    readonly_fields = ("payload_shown",)
    exclude = ("payload",)

    @admin.display(description="Payload")
    def payload_shown(self, obj) -> str:
        shown = {k: ("[redacted]" if k == "password" else v) for k, v in obj.payload.items()}
        return format_html("<pre>{}</pre>", "\n".join(f"{k}: {v}" for k, v in shown.items()))
