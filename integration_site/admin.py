from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from integration_site.admin_site import ReadOnlyAdminMixin
from integration_site.models import ApiToken, LoginFailure, ScheduledJob, WorkerHeartbeat
from integration_site.registry import registry
from integration_site.scopes import Scope
from integration_site.services import (
    api_token_create,
    api_token_revoke,
    api_token_scopes_not_held,
)


class ApiTokenCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "project", "environment", "expires_at", "user"]

    # Set by ApiTokenAdmin.get_form: the user creating the token.
    creator = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left empty, a token gets the default tenancy, as create_api_token gives it.
        for name in ("project", "environment"):
            self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in ("project", "environment"):
            cleaned[name] = cleaned.get(name) or ApiToken._meta.get_field(name).default
        project, environment = cleaned["project"], cleaned["environment"]
        if project and environment:
            # The apps that own tenancy (audits: projects and environments) say whether
            # this pair exists; shown on the form rather than failing the save.
            for check in registry["token_tenancy_checks"]:
                try:
                    check(project, environment)
                except forms.ValidationError as error:
                    self.add_error("environment", error)
        return cleaned

    def clean_scopes(self):
        scopes = self.cleaned_data["scopes"]
        missing = api_token_scopes_not_held(creator=self.creator, scopes=scopes)
        if missing:
            raise forms.ValidationError(
                f"You cannot grant scope(s) you do not hold yourself: {', '.join(missing)}."
            )
        return scopes


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "project",
        "environment",
        "user",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["revoked_at", "project"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_tokens"]
    readonly_fields = [
        "name",
        "prefix",
        "scopes",
        "project",
        "environment",
        "user",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type(
                "ApiTokenCreateForm", (ApiTokenCreateForm,), {"creator": request.user}
            )
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj:
            return self.readonly_fields
        return ["name", "scopes", "project", "environment", "expires_at", "user"]

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            return  # Tokens are immutable; revoke and create a new one instead.
        token, secret = api_token_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            user=form.cleaned_data["user"],
            created_by=request.user,
            project=form.cleaned_data["project"],
            environment=form.cleaned_data["environment"],
        )
        obj.pk = token.pk
        messages.warning(
            request,
            f"Token secret for {token.name!r} (shown only this once, copy it now): {secret}",
        )

    @admin.action(description="Revoke selected tokens", permissions=["delete"])
    def revoke_tokens(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)
        self.message_user(request, "Revoked.", messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allow_delete = True
    list_display = ["worker_id", "hostname", "pid", "started_at", "last_seen_at", "age"]

    @admin.display(description="Seconds since check-in")
    def age(self, obj) -> int:
        return int((timezone.now() - obj.last_seen_at).total_seconds())


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allow_delete = True
    list_display = ["name", "next_run_at", "last_run_at"]


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """
    Recent failed sign-ins on every channel (integration_site.lockout); deleting a user's
    rows lifts their lockout.
    """

    allow_delete = True

    list_display = ("username", "address_shown", "failed_at")
    search_fields = ("username", "remote_address")
    date_hierarchy = "failed_at"

    @admin.display(description="End user's address", ordering="remote_address")
    def address_shown(self, obj) -> str:
        return obj.remote_address or "— (not stated by the application)"
