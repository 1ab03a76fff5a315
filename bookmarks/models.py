"""
Saved searches, Foreman's bookmarks: a named query for one controller's search (`audits`,
`hosts`...), private to its owner or public to everyone who may read that search.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet

from audits.auditing import audited
from audits.search.errors import QueryError
from bookmarks.controllers import CONTROLLERS, controller_search_q

NAME_MAX_LENGTH = 255
# Far beyond any query a person writes; keeps a stored query cheap to parse on every use.
QUERY_MAX_LENGTH = 4096


@audited(
    type_name="Bookmark",
    name_of=lambda bookmark: bookmark.name,
    # The owning token is the actor of the create event and never changes afterwards; the
    # secret-name rule would otherwise record its id as "[redacted]".
    exclude={"owner_token"},
)
class Bookmark(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    controller = models.CharField(
        max_length=64, help_text=f"The search it belongs to: {', '.join(CONTROLLERS)}."
    )
    query = models.TextField(help_text="The search text, in the scoped-search language.")
    public = models.BooleanField(
        default=False, help_text="Shown to everyone who can read this search, not only you."
    )
    # A bookmark belongs to the user who saved it, or to the API token that did (tokens act
    # as themselves, not as their responsible user). Neither: made by the system. No index of
    # their own: the unique constraints below lead with the owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bookmarks",
        db_index=False,
    )
    owner_token = models.ForeignKey(
        "integration_site.ApiToken",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bookmarks",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]  # Foreman: default_scope order(:name)
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "controller", "name"],
                condition=Q(owner__isnull=False),
                name="bookmark_name_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["owner_token", "controller", "name"],
                condition=Q(owner_token__isnull=False),
                name="bookmark_name_unique_per_token",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(owner_token__isnull=True),
                name="bookmark_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.name is not None and not self.name.strip():
            errors["name"] = "Name can't be blank."
        if self.controller and self.controller not in CONTROLLERS:
            errors["controller"] = (
                f"'{self.controller}' is not a controller with a search here; "
                f"use one of: {', '.join(CONTROLLERS)}."
            )
        if self.query is not None and not self.query.strip():
            errors["query"] = "Query can't be blank."
        elif self.query and self.controller in CONTROLLERS:
            try:
                controller_search_q(self.controller, self.query)
            except QueryError as exc:
                errors["query"] = f"Query is not a valid {self.controller} search: {exc.message}"
        if "name" not in errors and self.name and self.controller and self.name_conflicts():
            errors["name"] = (
                f"Name has already been taken: a saved {self.controller} search "
                f"named '{self.name}' already exists."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def owner_label(self) -> str:
        if self.owner_id is not None:
            return self.owner.get_username()
        if self.owner_token_id is not None:
            return f"token:{self.owner_token.name}"
        return "system"

    def owner_q(self) -> Q:
        """Bookmarks with this bookmark's owner."""
        if self.owner_id is not None:
            return Q(owner_id=self.owner_id)
        if self.owner_token_id is not None:
            return Q(owner_token_id=self.owner_token_id)
        return Q(owner__isnull=True, owner_token__isnull=True)

    def name_conflicts(self) -> QuerySet["Bookmark"]:
        """Bookmarks that would share this one's name in somebody's list for the controller.

        Foreman validates the name's uniqueness per controller whenever the user can see a
        bookmark of that name; the effect is that no list shows a name twice. A private
        bookmark clashes with the owner's own and with public ones; a public one, seen by
        everybody, with any.
        """
        same = Bookmark.objects.filter(controller=self.controller, name=self.name)
        if self.pk is not None:
            same = same.exclude(pk=self.pk)
        if self.public:
            return same
        return same.filter(Q(public=True) | self.owner_q())
