from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from integration_site.admin_site import ReadOnlyAdminMixin
from licensing import selectors
from licensing.api import update_job_json
from licensing.choices import OptionType
from licensing.license_files import MAX_LICENSE_FILE_BYTES, LicenseFileError
from licensing.models import (
    ConsoleOption,
    License,
    LicenseField,
    Release,
    StartupStatus,
    UpdateJob,
    UpdateJobLogLine,
)
from licensing.options import DOCUMENTED_OPTIONS
from licensing.services.license import license_install
from licensing.services.updates import UpdateError, update_apply_request
from licensing.validators import option_value_error

MASK = "••••••••"
DOCUMENTED_OPTION_NAMES = frozenset(spec.name for spec in DOCUMENTED_OPTIONS)

# --- License -----------------------------------------------------------------------------------


class LicenseUploadForm(forms.Form):
    license_file = forms.FileField(
        help_text="A license file signed by the vendor (JSON or YAML, Ed25519 signature)."
    )

    def clean_license_file(self):
        upload = self.cleaned_data["license_file"]
        if upload.size > MAX_LICENSE_FILE_BYTES:
            raise forms.ValidationError("The file is larger than 1 MiB; it cannot be a license.")
        return upload


class VisibleLicenseFieldInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The console's license page: fields hidden from the customer are not shown."""

    allow_delete = True

    model = LicenseField
    fields = ["field", "title", "type", "value"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "License fields"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(hide_from_customer=False)


@admin.register(License)
class LicenseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "license_id",
        "assignee",
        "license_type",
        "release_channel",
        "expires",
        "expiration_policy",
        "installed_at",
    ]
    fields = [
        "license_id",
        "installation_id",
        "assignee",
        "license_type",
        "release_channel",
        "expires",
        "expiration_policy",
        "signing_key_id",
        "installed_at",
        "hidden_fields",
    ]
    readonly_fields = fields
    inlines = [VisibleLicenseFieldInline]
    change_list_template = "admin/licensing/license/change_list.html"

    @admin.display(description="Expires")
    def expires(self, obj: License) -> str:
        if obj.expiration_time is None:
            return "never"
        suffix = " (EXPIRED)" if obj.is_expired() else ""
        return f"{obj.expiration_time:%Y-%m-%d %H:%M} UTC{suffix}"

    @admin.display(description="Installation id")
    def installation_id(self, obj: License) -> str:
        return selectors.installation_get().installation_id

    @admin.display(description="Hidden fields")
    def hidden_fields(self, obj: License) -> str:
        count = obj.fields.filter(hide_from_customer=True).count()
        return f"{count} field(s) hidden from the customer (returned by the License API only)"

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="licensing_license_upload",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        if not request.user.has_perm("licensing.change_license"):
            raise PermissionDenied
        form = LicenseUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                license = license_install(
                    data=form.cleaned_data["license_file"].read(), source="admin upload"
                )
            except LicenseFileError as exc:
                form.add_error("license_file", f"Rejected: {exc}")
                messages.error(
                    request, "The license file was rejected; the running license is unchanged."
                )
            else:
                messages.success(request, f"License {license.license_id} installed.")
                return HttpResponseRedirect(
                    reverse("admin:licensing_license_change", args=[license.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload license file",
            "form": form,
            "opts": self.model._meta,
            "current": selectors.license_current(),
        }
        return TemplateResponse(request, "admin/licensing/license/upload.html", context)


# --- Console options -------------------------------------------------------------------------------


class ConsoleOptionForm(forms.ModelForm):
    clear_value = forms.BooleanField(
        required=False, help_text="Secret options: tick to empty the value."
    )

    class Meta:
        model = ConsoleOption
        fields = ["name", "type", "choices", "masked", "description", "value"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.masked:
            # Never send a secret back to the browser: blank keeps the stored value.
            self.fields["value"].widget = forms.Textarea(attrs={"rows": 4, "autocomplete": "off"})
            self.initial["value"] = ""
            state = "set" if instance.value else "empty"
            self.fields[
                "value"
            ].help_text = f"Secret ({state}). Leave blank to keep the current value."
        else:
            self.fields.pop("clear_value")
        if instance.pk and instance.type not in (OptionType.TEXT, OptionType.PEM):
            self.fields["value"].widget = forms.TextInput(attrs={"size": 60})

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        value = cleaned.get("value", "")
        if instance.pk and instance.masked and not value:
            value = "" if cleaned.get("clear_value") else instance.value
        cleaned["value"] = value
        probe = ConsoleOption(
            name=cleaned.get("name") or instance.name,
            type=cleaned.get("type") or instance.type,
            choices=cleaned.get("choices") or instance.choices or [],
        )
        problem = option_value_error(probe, value)
        if problem:
            self.add_error("value" if "value" in self.fields else None, problem)
        return cleaned


@admin.register(ConsoleOption)
class ConsoleOptionAdmin(admin.ModelAdmin):
    form = ConsoleOptionForm
    list_display = ["name", "type", "shown_value", "masked", "updated_at"]
    list_filter = ["type", "masked"]
    search_fields = ["name", "description"]

    def get_readonly_fields(self, request, obj=None):
        # A documented option keeps its name and type; the value is what operators set.
        return ["name", "type", "choices", "masked", "default_value"] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "type", "choices", "masked", "description", "value"]
        fields = ["name", "type", "choices", "masked", "description", "value", "default_value"]
        if obj.masked:
            fields.append("clear_value")
        return fields

    @admin.display(description="Value")
    def shown_value(self, obj: ConsoleOption) -> str:
        if obj.type == OptionType.GROUP:
            return "(its sub-options)"
        if obj.masked:
            return MASK if obj.value else "(empty)"
        return obj.value if len(obj.value) < 80 else obj.value[:77] + "..."

    @admin.display(description="Default")
    def default_value(self, obj: ConsoleOption) -> str:
        return MASK if obj.masked and obj.default else obj.default

    def has_delete_permission(self, request, obj=None):
        # The documented options are part of the API contract: they can be changed, not removed.
        if obj is not None and obj.name in DOCUMENTED_OPTION_NAMES:
            return False
        return super().has_delete_permission(request, obj)


# --- Releases and updates ---------------------------------------------------------------------------

# The Updates page's bounds: a channel rarely has more pending releases than this, and the
# full history is the Update jobs changelist.
UPDATES_AVAILABLE_SHOWN = 50
UPDATES_HISTORY_SHOWN = 10
UPDATES_LOG_LINES_SHOWN = 500


def _updates_blocked_reason(*, license: License | None, active: UpdateJob | None) -> str:
    """Why no release can be installed now (the service would refuse it), or ""."""
    refusal = selectors.license_update_refusal(license=license)
    if refusal:
        return refusal
    if active is not None:
        return (
            f"Update job #{active.pk} is {active.state}; another update can be installed "
            "when it finishes."
        )
    return ""


def _job_log_tail(job: UpdateJob) -> list[UpdateJobLogLine]:
    # The newest lines, oldest first: the live panel appends the ones logged after them.
    return list(job.log_lines.order_by("-pk")[:UPDATES_LOG_LINES_SHOWN])[::-1]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["sequence", "version", "channel", "required", "release_date", "status"]
    list_filter = ["channel", "required"]
    search_fields = ["version", "release_notes"]
    ordering = ["-sequence"]
    actions = ["apply_update"]
    # The worker runs a hook as itself, so setting one is a superuser's act (or the imported
    # manifest's, manage.py releases_import): for anyone else it would be a shell on the host.
    hook_fields = ("hook_command", "hook_timeout_seconds")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [f for f in self.hook_fields if f not in readonly]
        return readonly

    @admin.display(description="Status")
    def status(self, obj: Release) -> str:
        current = selectors.installation_get().current_sequence
        if obj.sequence == current:
            return "Current"
        license = selectors.license_current()
        if license is not None and obj.channel.lower() != license.release_channel.lower():
            return "Other channel"
        return "New" if obj.sequence > current else "Older"

    def has_apply_update_permission(self, request) -> bool:
        return request.user.has_perm("licensing.apply_update")

    @admin.action(
        description="Apply update (up to the selected release)", permissions=["apply_update"]
    )
    def apply_update(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one release: the version to update to.", messages.WARNING
            )
            return None
        release = queryset.get()
        return HttpResponseRedirect(reverse("admin:licensing_release_apply", args=[release.pk]))

    def get_urls(self):
        return [
            path(
                "<int:release_id>/apply/",
                self.admin_site.admin_view(self.apply_view),
                name="licensing_release_apply",
            ),
            path(
                "updates/",
                self.admin_site.admin_view(self.updates_view),
                name="licensing_release_updates",
            ),
            *super().get_urls(),
        ]

    def updates_view(self, request):
        """
        The Updates page (Replicated's version history): the running version, the releases
        available on the license's channel with Install, the latest job live, and the history.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        installation = selectors.installation_get()
        license = selectors.license_current()
        available = list(
            selectors.releases_pending(
                license=license, current_sequence=installation.current_sequence
            ).order_by("-sequence")[: UPDATES_AVAILABLE_SHOWN + 1]
        )
        active = selectors.update_job_active()
        history = list(selectors.update_jobs()[:UPDATES_HISTORY_SHOWN])
        job = active or (history[0] if history else None)
        can_apply = self.has_apply_update_permission(request)
        can_view_jobs = request.user.has_perm("licensing.view_updatejob")
        blocked = _updates_blocked_reason(license=license, active=active) if available else ""
        context = {
            **self.admin_site.each_context(request),
            "title": "Updates",
            "opts": self.model._meta,
            "installation": installation,
            "current": installation.current_release,
            "license": license,
            "available": available[:UPDATES_AVAILABLE_SHOWN],
            "more_available": len(available) > UPDATES_AVAILABLE_SHOWN,
            "blocked": blocked,
            "can_apply": can_apply,
            "show_install": can_apply and not blocked,
            "history": history,
            "can_view_jobs": can_view_jobs,
            "job": job,
            "lines": _job_log_tail(job) if job is not None else [],
            # The live panel polls the job's status, which needs the job view permission.
            "status_url": (
                reverse("admin:licensing_updatejob_status", args=[job.pk])
                if job is not None and can_view_jobs
                else ""
            ),
        }
        return TemplateResponse(request, "admin/licensing/release/updates.html", context)

    def apply_view(self, request, release_id: int):
        if not self.has_apply_update_permission(request):
            raise PermissionDenied
        release = get_object_or_404(Release, pk=release_id)
        # Coming from the Updates page, the user goes back there (where the job shows live);
        # from the Releases action, to the changelist and the job's own page. A flag, not a
        # URL, so the confirmation cannot be made to redirect anywhere else.
        from_updates = request.GET.get("from") == "updates"
        back = reverse(
            "admin:licensing_release_updates"
            if from_updates
            else "admin:licensing_release_changelist"
        )
        if request.method == "POST":
            try:
                job = update_apply_request(sequence=release.sequence, user=request.user)
            except UpdateError as exc:
                self.message_user(request, f"Not applied: {exc}", messages.ERROR)
                return HttpResponseRedirect(back)
            self.message_user(
                request, f"Update job #{job.pk} to {release.version} queued.", messages.SUCCESS
            )
            if from_updates:
                return HttpResponseRedirect(back)
            return HttpResponseRedirect(reverse("admin:licensing_updatejob_change", args=[job.pk]))
        installation = selectors.installation_get()
        current = installation.current_sequence
        license = selectors.license_current()
        candidates = selectors.releases_on_channel(license=license)
        plan = selectors.update_plan(target=release, current=current, candidates=candidates)
        skipped = candidates.filter(
            sequence__gt=current, sequence__lt=release.sequence, required=False
        ).order_by("sequence")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Apply update to {release.version}?",
            "opts": self.model._meta,
            "release": release,
            "current": installation.current_release,
            "plan": plan if release.sequence > current else [],
            "skipped": skipped,
            "not_newer": release.sequence <= current,
            "active_job": selectors.update_job_active(),
            "license": license,
            "from_updates": from_updates,
            "back": back,
        }
        return TemplateResponse(request, "admin/licensing/release/apply_confirmation.html", context)


@admin.register(UpdateJob)
class UpdateJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "target_sequence",
        "from_sequence",
        "state",
        "progress_percent",
        "requested_by_name",
        "created_at",
        "started_at",
        "finished_at",
    ]
    list_filter = ["state"]
    list_display_links = ["id", "target_sequence"]

    @admin.display(description="Progress")
    def progress_percent(self, obj: UpdateJob) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress
        )

    def get_urls(self):
        return [
            path(
                "<int:job_id>/status.json",
                self.admin_site.admin_view(self.status_view),
                name="licensing_updatejob_status",
            ),
            *super().get_urls(),
        ]

    def status_view(self, request, job_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = selectors.update_jobs().filter(pk=job_id).first()
        if job is None:
            raise Http404
        try:
            after = int(request.GET.get("after", 0))
        except ValueError:
            after = 0
        return JsonResponse(update_job_json(job, after=after))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(selectors.update_jobs(), pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Update job #{job.pk}",
            "opts": self.model._meta,
            "job": job,
            "lines": job.log_lines.order_by("pk"),
            "status_url": reverse("admin:licensing_updatejob_status", args=[job.pk]),
        }
        return TemplateResponse(request, "admin/licensing/updatejob/job.html", context)


@admin.register(StartupStatus)
class StartupStatusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allow_delete = True
    list_display = ["reported_at", "severity", "message", "reported_by"]
    list_filter = ["severity"]
    search_fields = ["message"]
