"""
Saved searches in the admin: a plain admin for bookmarks (the owner is whoever saves it), and
the "Saved searches" control next to the audit changelist's search box, which applies a
bookmark (`?q=<query>`) or saves the current search. Validation is the model's, writes the
services'.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from bookmarks.controllers import CONTROLLERS
from bookmarks.models import Bookmark
from bookmarks.selectors import bookmark_may_change, bookmarks_visible
from bookmarks.services import bookmark_create


class BookmarkAdminForm(forms.ModelForm):
    controller = forms.ChoiceField(choices=[(c, c) for c in CONTROLLERS])
    # Set per request by BookmarkAdmin.get_form: the name rule depends on the owner, and
    # the model is validated before save_model could set it.
    new_owner = None

    class Meta:
        model = Bookmark
        fields = ["name", "controller", "query", "public"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding and self.new_owner is not None:
            self.instance.owner = self.new_owner


@admin.register(Bookmark)
class BookmarkAdmin(admin.ModelAdmin):
    form = BookmarkAdminForm
    list_display = ["name", "controller", "query", "public", "owner_shown"]
    list_filter = ["controller", "public"]
    search_fields = ["name", "query"]

    @admin.display(description="owner")
    def owner_shown(self, bookmark: Bookmark) -> str:
        return bookmark.owner_label

    def get_queryset(self, request):
        # Superusers manage every bookmark; others see what the API shows them.
        if request.user.is_superuser:
            return super().get_queryset(request).select_related("owner", "owner_token")
        return bookmarks_visible(principal=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form = type(form.__name__, (form,), {"new_owner": request.user})
        return form

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or bookmark_may_change(obj, request.user))

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or bookmark_may_change(obj, request.user))

    # --- "Save this search" from a changelist --------------------------------------------

    def get_urls(self):
        return [
            path(
                "save-search/",
                self.admin_site.admin_view(self.save_search_view),
                name="bookmarks_bookmark_save_search",
            ),
            *super().get_urls(),
        ]

    def save_search_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        query = request.POST.get("query", "")
        try:
            bookmark = bookmark_create(
                principal=request.user,
                name=request.POST.get("name", "").strip(),
                controller=request.POST.get("controller", ""),
                query=query,
                public=request.POST.get("public") == "1",
            )
        except ValidationError as exc:
            messages.error(request, "Search not saved: " + " ".join(exc.messages))
        else:
            messages.success(request, f"Saved the search “{bookmark.name}”.")
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("admin:index")
        return HttpResponseRedirect(f"{back}?{urlencode({'q': query})}")


def saved_searches_addon(request: HttpRequest, *, controller: str, query: str) -> str:
    """The "Saved searches" control for a scoped-search box (registered in apps.py)."""
    bookmark_admin = admin.site.get_model_admin(Bookmark)
    if not bookmark_admin.has_view_or_change_permission(request):
        return ""
    context = {
        "bookmarks": bookmarks_visible(principal=request.user).filter(controller=controller),
        "controller": controller,
        "query": query,
        "can_save": bookmark_admin.has_add_permission(request),
        "manage_url": reverse("admin:bookmarks_bookmark_changelist")
        + "?"
        + urlencode({"controller__exact": controller}),
    }
    return render_to_string("admin/bookmarks/saved_searches.html", context, request=request)
